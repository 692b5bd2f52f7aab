package sim

import (
	"errors"
	"fmt"
	"strings"
)

// Bounds on one AT answer, so a chattering port cannot grow memory.
const (
	maxATLineLen = 512
	maxATLines   = 64
)

// errATTooLong means an answer had more lines than maxATLines before its
// final result code.
var errATTooLong = errors.New("answer too long")

// atResponse is a modem's answer to one command: the information lines and
// any unsolicited result codes interleaved with them (echo and empty lines
// removed), and the final result code.
type atResponse struct {
	lines []string
	final string
}

// atParser collects the lines of the answer to cmd from a byte stream.
// Lines end at CR or LF; the echo of the command is dropped; the answer ends
// at a final result code (OK, ERROR, +CME ERROR: ..., ...). Its result does
// not depend on how the stream is split into reads.
type atParser struct {
	cmd      string
	cur      []byte
	overlong bool
	resp     atResponse
	done     bool
	err      error
}

// feed consumes bytes up to the end of the answer and returns how many it
// consumed; once p.done is set it consumes nothing more.
func (p *atParser) feed(b []byte) int {
	for i, c := range b {
		if p.done {
			return i
		}
		if c != '\r' && c != '\n' {
			if len(p.cur) < maxATLineLen {
				p.cur = append(p.cur, c)
			} else {
				p.overlong = true
			}
			continue
		}
		p.endLine()
	}
	return len(b)
}

// endLine classifies the line collected so far.
func (p *atParser) endLine() {
	line := strings.TrimSpace(string(p.cur))
	overlong := p.overlong
	p.cur, p.overlong = p.cur[:0], false
	switch {
	case line == "":
		return
	case overlong:
		line += "..." // keep it as an (unusable) information line
	case strings.EqualFold(line, p.cmd):
		return // echo
	case isFinalResult(line):
		p.resp.final = line
		p.done = true
		return
	}
	if len(p.resp.lines) >= maxATLines {
		p.err = fmt.Errorf("%w: more than %d lines", errATTooLong, maxATLines)
		p.done = true
		return
	}
	p.resp.lines = append(p.resp.lines, line)
}

// isFinalResult reports whether line is a final result code (ITU-T V.250,
// 3GPP TS 27.007, and the spellings some modems use).
func isFinalResult(line string) bool {
	switch line {
	case "OK", "ERROR", "NO CARRIER", "NO DIALTONE", "BUSY", "NO ANSWER",
		"COMMAND NOT SUPPORT", "TOO MANY PARAMETERS":
		return true
	}
	return strings.HasPrefix(line, "+CME ERROR") || strings.HasPrefix(line, "+CMS ERROR")
}

// ATError is a modem's refusal of a command.
type ATError struct {
	// Command is the command sent, e.g. "AT+CIMI".
	Command string
	// Result is the final result code, e.g. "+CME ERROR: 10".
	Result string
}

// Error describes the refusal, explaining +CME ERROR codes.
func (e *ATError) Error() string {
	if txt := cmeText(e.Result); txt != "" {
		return fmt.Sprintf("%s: modem answered %q (%s)", e.Command, e.Result, txt)
	}
	return fmt.Sprintf("%s: modem answered %q", e.Command, e.Result)
}

// Unwrap maps SIM-related +CME ERRORs to ErrPINRequired and ErrNoCard.
func (e *ATError) Unwrap() error {
	switch strings.ToLower(cmeText(e.Result)) {
	case "sim pin required", "sim puk required":
		return ErrPINRequired
	case "sim not inserted", "sim failure":
		return ErrNoCard
	}
	return nil
}

// cmeText explains a +CME ERROR result (numeric or verbose, TS 27.007
// §9.2.1), or returns "" for other results.
func cmeText(result string) string {
	code, ok := strings.CutPrefix(result, "+CME ERROR:")
	if !ok {
		return ""
	}
	code = strings.TrimSpace(code)
	switch code {
	case "3":
		return "operation not allowed"
	case "4":
		return "operation not supported"
	case "10":
		return "SIM not inserted"
	case "11":
		return "SIM PIN required"
	case "12":
		return "SIM PUK required"
	case "13":
		return "SIM failure"
	case "14":
		return "SIM busy"
	case "15":
		return "SIM wrong"
	case "16":
		return "incorrect password"
	case "30":
		return "no network service"
	case "100":
		return "unknown error"
	}
	return code
}
