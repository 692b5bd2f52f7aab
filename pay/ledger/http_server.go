package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/x402/x402/pay"
)

// The HTTP transport's routes.
const (
	pathTx      = "/v1/tx"
	pathGenesis = "/v1/genesis"
	pathAccount = "/v1/account/"
	pathChannel = "/v1/channel/"
	pathBinding = "/v1/binding/"
)

// NewHTTPHandler serves c over HTTP so other processes can use it through
// NewHTTPClient: POST /v1/tx (body: SignedTx.Marshal, at most MaxTxSize
// bytes; answer: the Receipt), GET /v1/genesis, GET /v1/account/{id} and
// GET /v1/channel/{id} and, when c is a BindingReader, GET
// /v1/binding/{account} (answer: BindingAnswer), all answering JSON. Bad input gets a 4xx status
// with a plain-text reason.
func NewHTTPHandler(c Client) http.Handler {
	h := &handler{c: c}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathTx, h.submit)
	mux.HandleFunc("GET "+pathGenesis, h.genesis)
	mux.HandleFunc("GET "+pathAccount+"{id}", h.account)
	mux.HandleFunc("GET "+pathChannel+"{id}", h.channel)
	mux.HandleFunc("GET "+pathBinding+"{id}", h.binding)
	return mux
}

type handler struct{ c Client }

func (h *handler) submit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxTxSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("transaction exceeds %d bytes", MaxTxSize), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "read transaction: "+err.Error(), http.StatusBadRequest)
		return
	}
	tx, err := UnmarshalTx(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	receipt, err := h.c.Submit(r.Context(), tx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, receipt)
}

func (h *handler) genesis(w http.ResponseWriter, r *http.Request) {
	g, err := h.c.Genesis(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, g)
}

func (h *handler) account(w http.ResponseWriter, r *http.Request) {
	a, err := pay.ParseAccount(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	st, err := h.c.Account(r.Context(), a)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, st)
}

func (h *handler) channel(w http.ResponseWriter, r *http.Request) {
	id, err := pay.ParseChannelID(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ch, err := h.c.Channel(r.Context(), id)
	switch {
	case errors.Is(err, ErrUnknownChannel):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, ch)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}
