package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

func TestSpecCAS(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t, Config{})
		steps := []struct {
			name    string
			id      string
			data    string
			expect  int64
			want    int64 // new version, 0 when a conflict is expected
			current int64 // stored version the conflict reports
		}{
			{"create", "d1", "a", 0, 1, 0},
			{"create twice", "d1", "x", 0, 0, 1},
			{"update", "d1", "b", 1, 2, 0},
			{"stale update", "d1", "x", 1, 0, 2},
			{"update missing", "d2", "x", 4, 0, 0},
			{"create other", "d2", "c", 0, 1, 0},
			{"create empty", "d0", "", 0, 1, 0},
		}
		for _, st := range steps {
			v, err := s.PutSpec(ctx, st.id, []byte(st.data), st.expect)
			if st.want == 0 {
				wantConflict(t, err, nil, st.expect, st.current)
				continue
			}
			if err != nil || v != st.want {
				t.Fatalf("%s: PutSpec = %d, %v, want %d", st.name, v, err, st.want)
			}
		}
		got, err := s.GetSpec(ctx, "d1")
		if err != nil || string(got.Data) != "b" || got.Version != 2 || got.ID != "d1" {
			t.Fatalf("GetSpec = %+v, %v", got, err)
		}
		specs, err := s.ListSpecs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, sp := range specs {
			ids = append(ids, sp.ID)
		}
		if want := []string{"d0", "d1", "d2"}; !slices.Equal(ids, want) {
			t.Errorf("ListSpecs = %q, want %q", ids, want)
		}

		if err := s.DeleteSpec(ctx, "d1"); err != nil {
			t.Fatal(err)
		}
		for _, err := range []error{
			func() error { _, err := s.GetSpec(ctx, "d1"); return err }(),
			s.DeleteSpec(ctx, "d1"),
			func() error { _, err := s.GetImage(ctx, "d1"); return err }(),
		} {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("after delete: err = %v, want ErrNotFound", err)
			}
		}
		if specs, _ := s.ListSpecs(ctx); len(specs) != 2 {
			t.Errorf("after delete: %d specs listed, want 2", len(specs))
		}
	})
}

func TestImage(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t, Config{})
		if _, err := s.GetImage(ctx, "d1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetImage of nothing: err = %v, want ErrNotFound", err)
		}
		// Binary content, NULs and high bytes included, comes back whole.
		img := make([]byte, 70000)
		for i := range img {
			img[i] = byte(i * 7)
		}
		if err := s.PutImage(ctx, "d1", img); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetImage(ctx, "d1")
		if err != nil || !bytes.Equal(got, img) {
			t.Fatalf("GetImage = %d bytes, %v; want the %d stored", len(got), err, len(img))
		}
		if err := s.PutImage(ctx, "d1", []byte{1}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetImage(ctx, "d1"); !bytes.Equal(got, []byte{1}) {
			t.Errorf("GetImage after replace = %x, want 01", got)
		}
		// The image goes with its spec.
		if _, err := s.PutSpec(ctx, "d1", []byte("s"), 0); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSpec(ctx, "d1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetImage(ctx, "d1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetImage after DeleteSpec: err = %v, want ErrNotFound", err)
		}
	})
}

func TestSpecInvalidID(t *testing.T) {
	s := backends[0].open(t, Config{})
	ctx := context.Background()
	for _, id := range []string{"", "a{b}", "a b"} {
		if _, err := s.PutSpec(ctx, id, nil, 0); err == nil {
			t.Errorf("PutSpec(%q): no error", id)
		}
		if err := s.PutImage(ctx, id, nil); err == nil {
			t.Errorf("PutImage(%q): no error", id)
		}
		if _, err := s.GetSpec(ctx, id); err == nil {
			t.Errorf("GetSpec(%q): no error", id)
		}
	}
	if _, err := s.PutSpec(ctx, "d", nil, -1); err == nil {
		t.Error("PutSpec with a negative version: no error")
	}
}
