package server

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// NodeUseCases list the folders and organizations that can be activated
// at their own level; *activation.Service implements it.
type NodeUseCases interface {
	ListNodes(ctx context.Context, caller jit.Principal, kind string) ([]string, error)
}

// nodeRoutes mirrors the project routes for folders and organizations
// (ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS): the same handlers, with the
// scope taken from {folderId} or {organizationId}.
func (s *Server) nodeRoutes(r chi.Router) {
	if s.opts.Nodes == nil {
		return
	}
	for _, kind := range []string{"folders", "organizations"} {
		param := "{folderId}"
		if kind == "organizations" {
			param = "{organizationId}"
		}
		r.Get("/"+kind, s.handle(s.listNodes(kind)))
		r.Get("/"+kind+"/"+param+"/roles", s.handle(s.listRoles))
		r.Get("/"+kind+"/"+param+"/peers", s.handle(s.listPeers))
		r.Post("/"+kind+"/"+param+"/roles/self-activate", s.handle(s.selfActivate))
		r.Post("/"+kind+"/"+param+"/roles/request", s.handle(s.requestActivation))
	}
}

// scopeParam is the project id of a project route, or "folders/F" or
// "organizations/O" of a folder or organization route.
func scopeParam(r *http.Request) string {
	if f := chi.URLParam(r, "folderId"); f != "" {
		return "folders/" + f
	}
	if o := chi.URLParam(r, "organizationId"); o != "" {
		return "organizations/" + o
	}
	return chi.URLParam(r, "projectId")
}

// scopeName is what the original's projectId field shows: the project id,
// or the folder's or organization's resource name.
func scopeName(e jit.Entitlement) string {
	if e.Node != "" {
		return e.Node
	}
	return string(e.Project)
}

func (s *Server) listNodes(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := principal(r)
		if err != nil {
			return err
		}
		nodes, err := s.opts.Nodes.ListNodes(r.Context(), p, kind)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string][]string{kind: append([]string{}, nodes...)})
	}
}
