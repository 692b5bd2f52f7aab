package sim

import (
	"context"
	"errors"
	"fmt"
)

// cardData is what a SIM read yields before it becomes an Identity.
type cardData struct {
	imsi   string
	iccid  string
	mncLen int // from EF_AD, 0 when unreadable
}

// readSIM reads the ICCID, IMSI and MNC length, first as a UICC with a USIM
// application (CLA 00), then, if the card does not speak that or has no
// USIM, as a 2G SIM (CLA A0, DF_GSM).
func readSIM(ctx context.Context, s *cardSession) (cardData, error) {
	d, uerr := readUSIM(ctx, s)
	if uerr == nil {
		return d, nil
	}
	if !fallbackTo2G(uerr) {
		return cardData{}, fmt.Errorf("read USIM: %w", uerr)
	}
	s.log.Debug("USIM read failed, trying 2G SIM commands", "err", uerr)
	d, gerr := readGSM(ctx, s)
	if gerr == nil {
		return d, nil
	}
	return cardData{}, fmt.Errorf("read SIM: as USIM: %w; as 2G SIM: %w", uerr, gerr)
}

// fallbackTo2G reports whether a USIM read failed in a way that a 2G SIM
// (or a UICC without USIM) would fail, so that the 2G command set is worth
// trying. Removed cards, PIN refusals and garbled data are not.
func fallbackTo2G(err error) bool {
	if errors.Is(err, ErrNoUSIM) {
		return true
	}
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.SW {
	case swCLANotSupported, swINSNotSupported, swFileNotFound, swGSMFileNotFound, swWrongP1P2, swWrongParams, swNotAllowedNoEF:
		return true
	}
	return false
}

// readUSIM reads a UICC: EF_ICCID under the MF, EF_DIR to find the USIM
// AID, then EF_IMSI and EF_AD in ADF.USIM.
func readUSIM(ctx context.Context, s *cardSession) (cardData, error) {
	if _, err := s.selectUICC(ctx, "MF", fidMF); err != nil {
		return cardData{}, err
	}
	iccid, err := s.readICCID(ctx, claUICC, s.selectUICC)
	if err != nil {
		return cardData{}, err
	}
	fi, err := s.selectUICC(ctx, "EF_DIR", fidDIR)
	var se *StatusError
	if errors.As(err, &se) && se.SW == swFileNotFound {
		return cardData{}, fmt.Errorf("%w: %w", ErrNoUSIM, err)
	}
	if err != nil {
		return cardData{}, err
	}
	aid, err := s.findUSIMAID(ctx, fi)
	if err != nil {
		return cardData{}, err
	}
	if _, err := s.run(ctx, "SELECT ADF.USIM", apdu{cla: claUICC, ins: insSelect, p1: 0x04, p2: 0x04, data: aid, le: 256}); err != nil {
		return cardData{}, err
	}
	imsi, err := s.readIMSI(ctx, claUICC, s.selectUICC)
	if err != nil {
		return cardData{}, err
	}
	return cardData{imsi: imsi, iccid: iccid, mncLen: s.readMNCLength(ctx, claUICC, s.selectUICC)}, nil
}

// readGSM reads a 2G SIM: EF_ICCID under the MF, then EF_IMSI and EF_AD in
// DF_GSM.
func readGSM(ctx context.Context, s *cardSession) (cardData, error) {
	if _, err := s.selectGSM(ctx, "MF", fidMF); err != nil {
		return cardData{}, err
	}
	iccid, err := s.readICCID(ctx, claGSM, s.selectGSM)
	if err != nil {
		return cardData{}, err
	}
	if _, err := s.selectGSM(ctx, "DF_GSM", fidDFGSM); err != nil {
		return cardData{}, err
	}
	imsi, err := s.readIMSI(ctx, claGSM, s.selectGSM)
	if err != nil {
		return cardData{}, err
	}
	return cardData{imsi: imsi, iccid: iccid, mncLen: s.readMNCLength(ctx, claGSM, s.selectGSM)}, nil
}

// selectFunc selects a file by FID under the current DF.
type selectFunc func(ctx context.Context, name string, fid uint16) (fileInfo, error)

// readICCID selects and decodes EF_ICCID; the MF must be current.
func (s *cardSession) readICCID(ctx context.Context, cla byte, sel selectFunc) (string, error) {
	fi, err := sel(ctx, "EF_ICCID", fidICCID)
	if err != nil {
		return "", err
	}
	b, err := s.readBinary(ctx, "EF_ICCID", cla, sizeOr(fi.size, sizeICCID))
	if err != nil {
		return "", err
	}
	return DecodeICCID(b)
}

// readIMSI selects and decodes EF_IMSI; DF_GSM or ADF.USIM must be current.
func (s *cardSession) readIMSI(ctx context.Context, cla byte, sel selectFunc) (string, error) {
	fi, err := sel(ctx, "EF_IMSI", fidIMSI)
	if err != nil {
		return "", err
	}
	b, err := s.readBinary(ctx, "EF_IMSI", cla, sizeOr(fi.size, sizeIMSI))
	if err != nil {
		return "", err
	}
	return DecodeIMSI(b)
}

// readMNCLength reads the MNC length from EF_AD. Failure is not an error:
// the caller falls back to the country table, so it returns 0.
func (s *cardSession) readMNCLength(ctx context.Context, cla byte, sel selectFunc) int {
	fi, err := sel(ctx, "EF_AD", fidAD)
	if err != nil {
		s.log.Debug("EF_AD not readable, using the MNC length table", "err", err)
		return 0
	}
	b, err := s.readBinary(ctx, "EF_AD", cla, fi.size)
	if err != nil {
		s.log.Debug("EF_AD not readable, using the MNC length table", "err", err)
		return 0
	}
	n, ok := MNCLengthFromAD(b)
	if !ok {
		s.log.Debug("EF_AD has no MNC length, using the MNC length table", "ad", fmt.Sprintf("% X", b))
		return 0
	}
	return n
}

// sizeOr returns size if known, else def.
func sizeOr(size, def int) int {
	if size > 0 {
		return size
	}
	return def
}
