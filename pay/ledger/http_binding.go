package ledger

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/x402/x402/pay"
)

// BindingAnswer is the JSON answer of GET /v1/binding/{account}: an
// unbound account is Bound false (a 200, so that a server without the
// route, answering 404, is never mistaken for "not bound").
type BindingAnswer struct {
	Bound   bool     `json:"bound"`
	Binding *Binding `json:"binding,omitempty"`
}

func (h *handler) binding(w http.ResponseWriter, r *http.Request) {
	br, ok := h.c.(BindingReader)
	if !ok {
		http.Error(w, "this ledger does not serve SIM bindings", http.StatusNotImplemented)
		return
	}
	a, err := pay.ParseAccount(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b, bound, err := br.Binding(r.Context(), a)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	ans := BindingAnswer{Bound: bound}
	if bound {
		ans.Binding = &b
	}
	writeJSON(w, ans)
}

// Binding implements BindingReader.
func (c *httpClient) Binding(ctx context.Context, a pay.Account) (Binding, bool, error) {
	var ans BindingAnswer
	if err := c.do(ctx, http.MethodGet, pathBinding+url.PathEscape(a.String()), nil, &ans); err != nil {
		return Binding{}, false, err
	}
	if !ans.Bound {
		return Binding{}, false, nil
	}
	if ans.Binding == nil || ans.Binding.Account != a {
		return Binding{}, false, fmt.Errorf("ledger GET %s%s: the answer is not that account's binding", pathBinding, a)
	}
	return *ans.Binding, true, nil
}
