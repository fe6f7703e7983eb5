package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Meta describes a stored file.
type Meta struct {
	ID      string    `json:"id"`    // the slot id: 32 hex digits
	Owner   string    `json:"owner"` // the uploader's bare JID
	Name    string    `json:"name"`  // the file name of the URLs
	Type    string    `json:"type"`  // its content type
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

// File is a stored file opened for reading.
type File interface {
	io.ReadSeekCloser
}

// Store keeps the files. Implementations must be safe for concurrent use.
// An S3-compatible object store fits it: Put streams to a multipart upload,
// Open returns a reader that fetches ranges, List pages through the keys.
type Store interface {
	// Put stores m.Size bytes read from r as m.ID and returns once they
	// are durable. ErrExists if the id is taken, ErrSize if r holds fewer
	// or more bytes (nothing is kept then).
	Put(ctx context.Context, m Meta, r io.Reader) error
	// Open returns the file m.ID and its Meta; ErrNotFound if it is not
	// (completely) stored.
	Open(ctx context.Context, id string) (File, Meta, error)
	// Delete removes the file; deleting a missing file is not an error.
	Delete(ctx context.Context, id string) error
	// List calls f with the Meta of every stored file.
	List(ctx context.Context, f func(Meta) error) error
}

// Errors of Store.
var (
	ErrExists   = errors.New("upload: file exists")
	ErrNotFound = errors.New("upload: file not found")
	ErrSize     = errors.New("upload: body size differs from the slot's")
)

// DiskStore keeps each file in Dir/<id>/data with its Meta in
// Dir/<id>/meta.json, written (and fsynced) after the data: a directory
// without meta.json is an upload in progress or a failed one.
type DiskStore struct {
	Dir string
}

// validID reports whether id is 32 lowercase hex digits (and so safe in a
// path).
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (d DiskStore) path(id string, name string) string { return filepath.Join(d.Dir, id, name) }

// Put implements Store.
func (d DiskStore) Put(ctx context.Context, m Meta, r io.Reader) (err error) {
	if !validID(m.ID) {
		return fmt.Errorf("upload: invalid id %q", m.ID)
	}
	if err := os.MkdirAll(d.Dir, 0o750); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	dir := filepath.Join(d.Dir, m.ID)
	if err := os.Mkdir(dir, 0o750); err != nil {
		if errors.Is(err, os.ErrExist) {
			return ErrExists
		}
		return fmt.Errorf("upload: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	f, err := os.OpenFile(d.path(m.ID, "data"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, m.Size+1))
	if err == nil && n != m.Size {
		err = ErrSize
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := writeSync(d.path(m.ID, "meta.json.tmp"), b); err != nil {
		return err
	}
	if err := os.Rename(d.path(m.ID, "meta.json.tmp"), d.path(m.ID, "meta.json")); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	return syncDir(dir)
}

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	return nil
}

func (d DiskStore) meta(id string) (Meta, error) {
	var m Meta
	b, err := os.ReadFile(d.path(id, "meta.json"))
	if errors.Is(err, os.ErrNotExist) {
		return m, ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("upload: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("upload: %s: %w", id, err)
	}
	return m, nil
}

// Open implements Store.
func (d DiskStore) Open(_ context.Context, id string) (File, Meta, error) {
	if !validID(id) {
		return nil, Meta{}, ErrNotFound
	}
	m, err := d.meta(id)
	if err != nil {
		return nil, m, err
	}
	f, err := os.Open(d.path(id, "data"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, m, ErrNotFound
	}
	if err != nil {
		return nil, m, fmt.Errorf("upload: %w", err)
	}
	return f, m, nil
}

// Delete implements Store.
func (d DiskStore) Delete(_ context.Context, id string) error {
	if !validID(id) {
		return nil
	}
	// The record first: a half-deleted file is no longer served.
	if err := os.Remove(d.path(id, "meta.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("upload: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(d.Dir, id)); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	return nil
}

// staleUpload is how old a directory without meta.json must be before List
// removes it (an upload that died with the process).
const staleUpload = 24 * time.Hour

// List implements Store. It also removes leftovers of uploads that never
// completed.
func (d DiskStore) List(ctx context.Context, f func(Meta) error) error {
	ents, err := os.ReadDir(d.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.IsDir() || !validID(e.Name()) {
			continue
		}
		m, err := d.meta(e.Name())
		if errors.Is(err, ErrNotFound) {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleUpload {
				_ = os.RemoveAll(filepath.Join(d.Dir, e.Name()))
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := f(m); err != nil {
			return err
		}
	}
	return nil
}
