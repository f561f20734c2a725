package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

func inventoryPages() []*lorafuotapb.ListInventoryResponse {
	e := func(eui string, fw uint32) *lorafuotapb.InventoryEntry {
		return &lorafuotapb.InventoryEntry{DevEui: eui, FirmwareVersion: fw, HardwareVersion: 1, SeenAt: ts(60), Source: "DevVersionAns"}
	}
	// Page i answers cursor i; cursors need not follow in order, as Redis SCAN's do not.
	return []*lorafuotapb.ListInventoryResponse{
		{Entries: []*lorafuotapb.InventoryEntry{e("70b3d57ed0000001", 2), e("70b3d57ed0000002", 1)}, NextCursor: 2},
		{Entries: []*lorafuotapb.InventoryEntry{e("70b3d57ed0000004", 2)}},
		{Entries: nil, NextCursor: 1}, // SCAN may return an empty page with more to come
	}
}

func TestInventory(t *testing.T) {
	tests := []struct {
		name    string
		flags   []string
		cursors []uint64
		limits  []uint32
		rows    int
	}{
		{"all", nil, []uint64{0, 2, 1}, []uint32{inventoryPage, inventoryPage, inventoryPage}, 3},
		{"limit", []string{"--limit", "2"}, []uint64{0}, []uint32{2}, 2},
		{"limit across pages", []string{"--limit", "3"}, []uint64{0, 2, 1}, []uint32{3, 1, 1}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, conn := newFake(t)
			f.invPages = inventoryPages()
			out, _, err := execute(t, "", cmdArgs([]string{"inventory"}, conn, tt.flags...)...)
			if err != nil {
				t.Fatalf("err %v\n%s", err, out)
			}
			reqs := received[*lorafuotapb.ListInventoryRequest](f)
			if len(reqs) != len(tt.cursors) {
				t.Fatalf("%d requests %v, want cursors %v", len(reqs), reqs, tt.cursors)
			}
			for i, r := range reqs {
				if r.GetCursor() != tt.cursors[i] || r.GetLimit() != tt.limits[i] {
					t.Errorf("request %d: cursor %d limit %d, want %d %d", i, r.GetCursor(), r.GetLimit(), tt.cursors[i], tt.limits[i])
				}
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 1+tt.rows {
				t.Errorf("%d lines, want a header and %d rows:\n%s", len(lines), tt.rows, out)
			}
			if want := "70b3d57ed0000001         2         1  2026-11-25T10:01:00Z  DevVersionAns"; !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		})
	}
}

func TestInventoryJSON(t *testing.T) {
	f, conn := newFake(t)
	f.invPages = inventoryPages()
	out, _, err := execute(t, "", cmdArgs([]string{"inventory", "--json"}, conn)...)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]*lorafuotapb.InventoryEntry{}, f.invPages[0].Entries...), f.invPages[1].Entries...)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, l := range lines {
		var e lorafuotapb.InventoryEntry
		if err := protojson.Unmarshal([]byte(l), &e); err != nil || !proto.Equal(&e, want[i]) {
			t.Errorf("line %d: %v: %s, want %v", i, err, l, want[i])
		}
	}
}

func TestInventoryCursorLoop(t *testing.T) {
	f, conn := newFake(t)
	f.invPages = []*lorafuotapb.ListInventoryResponse{{}, {NextCursor: 1}}
	f.invPages[0].NextCursor = 1
	_, _, err := execute(t, "", cmdArgs([]string{"inventory"}, conn)...)
	if err == nil || !strings.Contains(err.Error(), "ListInventory: the server returned cursor 1 again") {
		t.Errorf("err %v, want the loop refused", err)
	}
}
