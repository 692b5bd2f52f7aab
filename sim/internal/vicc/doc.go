// Package vicc emulates SIM cards for tests: a 2G SIM (TS 51.011, CLA A0)
// and a UICC with a USIM application (TS 102 221 / 31.102, CLA 00), under
// T=0 or T=1, with configurable misbehaviour (wrong status words, truncated
// files, endless GET RESPONSE chains, card removal mid-read). Serve connects
// a card to vsmartcard's vpcd reader driver inside pcscd, so tests exercise
// the real PC/SC stack; Card.Process can also be driven directly.
package vicc
