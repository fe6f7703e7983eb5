package upload

import (
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Handler serves the files: PUT, GET and HEAD on /upload/{id}/{name}, with
// CORS for browser clients. Mount it at "/upload/".
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /upload/{id}/{name}", s.put)
	mux.HandleFunc("GET /upload/{id}/{name}", s.get) // and HEAD
	mux.HandleFunc("OPTIONS /upload/{id}/{name}", func(w http.ResponseWriter, r *http.Request) {
		cors(w)
		w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func cors(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Content-Disposition")
}

// put stores the body of an upload whose URL the service signed.
func (s *Service) put(w http.ResponseWriter, r *http.Request) {
	cors(w)
	q := r.URL.Query()
	size, err1 := strconv.ParseInt(q.Get("size"), 10, 64)
	expires, err2 := strconv.ParseInt(q.Get("expires"), 10, 64)
	sl := slot{ID: r.PathValue("id"), Name: r.PathValue("name"), Type: q.Get("type"), Owner: q.Get("owner"), Size: size, Expires: expires}
	switch {
	case err1 != nil || err2 != nil || !validID(sl.ID) || !s.verify(sl, q.Get("sig")):
		http.Error(w, "invalid upload slot", http.StatusForbidden)
		return
	case s.cfg.Now().Unix() > sl.Expires:
		http.Error(w, "upload slot expired", http.StatusForbidden)
		return
	case r.ContentLength < 0:
		http.Error(w, "Content-Length required", http.StatusLengthRequired)
		return
	case r.ContentLength != sl.Size:
		http.Error(w, "Content-Length differs from the slot's size", http.StatusBadRequest)
		return
	case !sameType(r.Header.Get("Content-Type"), sl.Type):
		http.Error(w, "Content-Type differs from the slot's", http.StatusBadRequest)
		return
	}
	if f, _, err := s.store.Open(r.Context(), sl.ID); err == nil {
		f.Close()
		http.Error(w, "this slot was used already", http.StatusConflict)
		return
	}
	if !s.reserve(sl.Owner, sl.Size) {
		http.Error(w, "upload quota exceeded", http.StatusRequestEntityTooLarge)
		return
	}
	m := Meta{ID: sl.ID, Owner: sl.Owner, Name: sl.Name, Type: sl.Type, Size: sl.Size, Created: s.cfg.Now().UTC()}
	err := s.store.Put(r.Context(), m, r.Body)
	if err != nil {
		s.release(sl.Owner, sl.Size)
	}
	switch {
	case err == nil:
		s.log.Info("file uploaded", "owner", sl.Owner, "id", sl.ID, "size", sl.Size)
		w.WriteHeader(http.StatusCreated)
	case errors.Is(err, ErrExists):
		http.Error(w, "this slot was used already", http.StatusConflict)
	case errors.Is(err, ErrSize):
		http.Error(w, "the body does not have the slot's size", http.StatusBadRequest)
	default:
		s.log.Warn("upload failed", "owner", sl.Owner, "id", sl.ID, "err", err)
		http.Error(w, "upload failed", http.StatusInternalServerError)
	}
}

// sameType compares a request's Content-Type with the slot's, ignoring
// case and parameter spelling; a request without one matches.
func sameType(got, want string) bool {
	if got == "" {
		return true
	}
	g, gp, err1 := mime.ParseMediaType(got)
	w, wp, err2 := mime.ParseMediaType(want)
	if err1 != nil || err2 != nil {
		return strings.EqualFold(got, want)
	}
	if g != w || len(gp) != len(wp) {
		return false
	}
	for k, v := range gp {
		if !strings.EqualFold(wp[k], v) {
			return false
		}
	}
	return true
}

// get serves a file, with ranges.
func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	cors(w)
	f, m, err := s.store.Open(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) || (err == nil && m.Name != r.PathValue("name")) {
		if f != nil {
			f.Close()
		}
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "upload: open failed", slog.Any("err", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", m.Type)
	h.Set("X-Content-Type-Options", "nosniff")
	// Uploaded HTML or SVG must not run as a page of this origin.
	h.Set("Content-Security-Policy", "default-src 'none'; media-src 'self'; img-src 'self'; style-src 'unsafe-inline'; sandbox")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	disp := "attachment"
	if t, _, _ := strings.Cut(m.Type, "/"); t == "image" || t == "audio" || t == "video" {
		disp = "inline"
	}
	h.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": m.Name}))
	http.ServeContent(w, r, "", m.Created.Truncate(time.Second), f)
}
