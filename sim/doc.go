// Package sim owns the appliance's SIM identity: reading the IMSI, ICCID and
// MCC/MNC of the SIM card that anchors an appliance's account (one account per
// SIM, the network's anti-sybil rule), and the signed identity claim that ties
// an account to that SIM.
//
// # Readers
//
// Every source of an identity implements [Reader]:
//
//   - [PCSCReader] talks to a SIM in a PC/SC smart-card reader (pcsc-lite via
//     github.com/ebfe/scard). It reads EF_ICCID under the MF and EF_IMSI from
//     ADF.USIM (UICC, CLA 00, selected by the AID found in EF_DIR) or, for a
//     2G SIM, from DF_GSM (CLA A0), following 61xx/9Fxx (GET RESPONSE) and
//     6Cxx (wrong Le) status words under T=0 and T=1. It needs cgo; builds
//     without cgo (router cross builds) leave it out and its methods return
//     [ErrNotBuiltIn]. [BuiltinReaders] says which readers a binary has.
//   - [ModemReader] asks a cellular modem on its AT port (AT+CIMI, then
//     AT+CCID, AT+QCCID, AT^ICCID? or AT+CRSM, whichever the modem answers).
//   - [ConfigReader] returns an explicitly configured identity for devices
//     without a SIM; such an identity is reported as not SIM-anchored.
//
// [Discover] picks the first PC/SC reader holding a card, else the first modem
// port that answers AT.
//
// # Claims and what the commitment hides
//
// The IMSI never leaves the device. A [Claim] carries instead an IMSI
// commitment, HMAC-SHA256 keyed with the network's commitment key (for
// example taken from the genesis file) over a domain-separated encoding of
// the IMSI, and an ICCID hash keyed the same way under a different label. The
// same SIM always yields the same commitment on the same network, which is
// what lets the ledger accept one account per SIM; different networks (keys)
// yield unlinkable commitments.
//
// The commitment hides the IMSI only from parties that do not hold the key.
// It is not a hiding commitment against key holders: the IMSI space is small
// (an MCC/MNC prefix followed by at most ten digits, and the MCC/MNC are in
// the claim in clear), so anyone who holds the network key, and a network key
// published in a genesis file is held by everybody who runs a node, can
// enumerate the IMSIs of an operator and find the one behind a commitment.
// It keeps raw IMSIs out of ledger dumps, block explorers and logs, and it
// stops cross-network linking; it does not make an IMSI secret from the
// network's participants.
//
// A claim is signed with the agent's ed25519 key over a canonical,
// length-prefixed binary encoding, prefixed with the context string
// [ClaimContext], the chain id and the shard id, so that the bytes signed are
// the bytes checked and a signature never verifies for another purpose or
// another network.
package sim
