package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// File identifiers (TS 102 221 §13, TS 31.102 §4.2, TS 51.011 §10).
const (
	fidMF    uint16 = 0x3F00
	fidICCID uint16 = 0x2FE2
	fidDIR   uint16 = 0x2F00
	fidDFGSM uint16 = 0x7F20
	fidIMSI  uint16 = 0x6F07
	fidAD    uint16 = 0x6FAD
)

// usimAIDPrefix is the RID and application code of every USIM AID
// (A0000000871002, TS 101 220 Annex E).
const usimAIDPrefix = "\xA0\x00\x00\x00\x87\x10\x02"

// fidBytes encodes a file identifier for SELECT.
func fidBytes(fid uint16) []byte { return []byte{byte(fid >> 8), byte(fid)} }

// Default sizes for files whose select response lacks a size.
const (
	sizeICCID     = 10
	sizeIMSI      = 9
	sizeADDefault = 4
	maxFileSize   = 1024
	maxDirRecords = 16
)

// fileInfo is what a select response tells about a file; zero values mean
// unknown.
type fileInfo struct {
	size    int // transparent EF size
	recLen  int // linear fixed record length
	records int // number of records
}

// parseFCP reads the file size (tag 80) and record layout (tag 82) from a
// UICC FCP template (TS 102 221 §11.1.1.3).
func parseFCP(b []byte) (fileInfo, error) {
	top, err := parseTLVs(b)
	if err != nil {
		return fileInfo{}, err
	}
	fcp, ok := findTLV(top, 0x62)
	if !ok {
		return fileInfo{}, fmt.Errorf("%w: select response has no FCP template", ErrMalformed)
	}
	objs, err := parseTLVs(fcp)
	if err != nil {
		return fileInfo{}, err
	}
	var fi fileInfo
	if v, ok := findTLV(objs, 0x80); ok && len(v) >= 2 {
		fi.size = int(v[0])<<8 | int(v[1])
	}
	if v, ok := findTLV(objs, 0x82); ok && len(v) >= 5 {
		fi.recLen = int(v[2])<<8 | int(v[3])
		fi.records = int(v[4])
	}
	return fi, nil
}

// parseGSMResponse reads the file size and record length from a 2G SELECT
// response (TS 51.011 §9.2.1).
func parseGSMResponse(b []byte) (fileInfo, error) {
	if len(b) < 14 {
		return fileInfo{}, fmt.Errorf("%w: 2G select response has %d bytes, want at least 14", ErrMalformed, len(b))
	}
	fi := fileInfo{size: int(b[2])<<8 | int(b[3])}
	if b[6] == 0x04 && len(b) >= 15 && b[13] != 0x00 { // EF with records
		fi.recLen = int(b[14])
		if fi.recLen > 0 {
			fi.records = fi.size / fi.recLen
		}
	}
	return fi, nil
}

// selectUICC selects a file by FID under the current DF (CLA 00, P2 04:
// return FCP). A response that is not a readable FCP is logged, not fatal.
func (s *cardSession) selectUICC(ctx context.Context, name string, fid uint16) (fileInfo, error) {
	rsp, err := s.run(ctx, "SELECT "+name, apdu{cla: claUICC, ins: insSelect, p1: 0x00, p2: 0x04, data: fidBytes(fid), le: 256})
	if err != nil {
		return fileInfo{}, err
	}
	fi, err := parseFCP(rsp)
	if err != nil {
		s.log.Debug("unreadable FCP", "file", name, "err", err)
	}
	return fi, nil
}

// selectGSM selects a file by FID with the 2G command set (CLA A0); the
// 9Fxx answer is followed by GET RESPONSE in exchange.
func (s *cardSession) selectGSM(ctx context.Context, name string, fid uint16) (fileInfo, error) {
	rsp, err := s.run(ctx, "SELECT "+name, apdu{cla: claGSM, ins: insSelect, data: fidBytes(fid), le: -1})
	if err != nil {
		return fileInfo{}, err
	}
	fi, err := parseGSMResponse(rsp)
	if err != nil {
		s.log.Debug("unreadable 2G select response", "file", name, "err", err)
	}
	return fi, nil
}

// readBinary reads a transparent EF of the given size with class cla. With
// size 0 (unknown) it asks for 256 bytes and lets the card correct Le with
// 6Cxx. A card returning fewer bytes than asked ends the read; the decoder
// then judges whether the content is complete.
func (s *cardSession) readBinary(ctx context.Context, name string, cla byte, size int) ([]byte, error) {
	if size > maxFileSize {
		return nil, fmt.Errorf("READ BINARY %s: %w: file size %d exceeds %d", name, ErrMalformed, size, maxFileSize)
	}
	if size <= 0 {
		return s.runRead(ctx, "READ BINARY "+name, apdu{cla: cla, ins: insReadBinary, le: 256})
	}
	var out []byte
	for len(out) < size {
		n := min(size-len(out), 255)
		off := len(out)
		data, err := s.runRead(ctx, "READ BINARY "+name, apdu{cla: cla, ins: insReadBinary, p1: byte(off >> 8), p2: byte(off), le: n})
		if err != nil {
			return nil, err
		}
		out = append(out, data...)
		if len(data) < n {
			break
		}
	}
	return out[:min(len(out), size)], nil
}

// readRecord reads record n (1-based, absolute mode) of the current linear
// fixed EF.
func (s *cardSession) readRecord(ctx context.Context, name string, n, recLen int) ([]byte, error) {
	le := recLen
	if le <= 0 || le > 255 {
		le = 256
	}
	return s.runRead(ctx, fmt.Sprintf("READ RECORD %s #%d", name, n), apdu{cla: claUICC, ins: insReadRecord, p1: byte(n), p2: 0x04, le: le})
}

// findUSIMAID reads EF_DIR (the current EF) and returns the AID of the first
// USIM application record.
func (s *cardSession) findUSIMAID(ctx context.Context, fi fileInfo) ([]byte, error) {
	records := fi.records
	if records <= 0 || records > maxDirRecords {
		records = maxDirRecords
	}
	for i := 1; i <= records; i++ {
		rec, err := s.readRecord(ctx, "EF_DIR", i, fi.recLen)
		var se *StatusError
		if errors.As(err, &se) && (se.SW == 0x6A83 || se.SW == 0x9402) && i > 1 {
			break // record not found: past the last record
		}
		if err != nil {
			return nil, err
		}
		if aid := usimAIDFromDirRecord(rec); aid != nil {
			return aid, nil
		}
	}
	return nil, fmt.Errorf("EF_DIR: %w", ErrNoUSIM)
}

// usimAIDFromDirRecord returns the AID of an EF_DIR application template
// ('61' containing '4F') if it is a USIM's, else nil.
func usimAIDFromDirRecord(rec []byte) []byte {
	objs, err := parseTLVs(rec)
	if err != nil {
		return nil
	}
	tmpl, ok := findTLV(objs, 0x61)
	if !ok {
		return nil
	}
	inner, err := parseTLVs(tmpl)
	if err != nil {
		return nil
	}
	aid, ok := findTLV(inner, 0x4F)
	if !ok || len(aid) > 16 || !bytes.HasPrefix(aid, []byte(usimAIDPrefix)) {
		return nil
	}
	return aid
}

// swEndOfFile (6282) warns that the file ended before Le bytes; the data
// returned is valid.
const swEndOfFile = 0x6282

// runRead is run for READ BINARY/RECORD, also accepting 6282 (end of file
// reached before Le bytes) with the bytes that were there.
func (s *cardSession) runRead(ctx context.Context, name string, a apdu) ([]byte, error) {
	data, sw, err := s.exchange(ctx, name, a)
	if err != nil {
		return nil, err
	}
	if !swSuccess(sw) && sw != swEndOfFile {
		return nil, &StatusError{Command: name, SW: sw}
	}
	return data, nil
}
