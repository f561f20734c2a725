package image

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNameUUID(t *testing.T) {
	// Vectors from Python's uuid.uuid5, which imgtool calls: the first is the
	// example in Python's documentation, the others imgtool's --vid/--cid
	// derivation for a vendor domain and a class name under it.
	vendor := mustParseUUID(t, "0637e301-e05d-505b-8267-486f5677de9b")
	tests := []struct {
		ns   UUID
		name string
		want string
	}{
		{NamespaceDNS, "python.org", "886313e1-3b8a-5372-9b90-0c9aee199e5d"},
		{NamespaceDNS, "acme.example", "0637e301-e05d-505b-8267-486f5677de9b"},
		{vendor, "sensor-v2", "a269d48e-6987-5cc6-becc-22065907d317"},
	}
	for _, tt := range tests {
		if got := NameUUID(tt.ns, tt.name).String(); got != tt.want {
			t.Errorf("NameUUID(%v, %q) = %s, want %s", tt.ns, tt.name, got, tt.want)
		}
	}
}

func mustParseUUID(t *testing.T, s string) UUID {
	t.Helper()
	u, err := ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestParseUUID(t *testing.T) {
	want := "0637e301-e05d-505b-8267-486f5677de9b"
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"0637e301-e05d-505b-8267-486f5677de9b", false},
		{"0637E301-E05D-505B-8267-486F5677DE9B", false},
		{"0637e301e05d505b8267486f5677de9b", false},
		{"0637e301-e05d-505b-8267-486f5677de9", true},
		{"0637e301e05d505b8267486f5677de9bb", true},
		{"0637e301-e05d-505b-8267486f-5677de9b", true},
		{"0637e301-e05d-505b-8267-486f5677de9g", true},
		{"", true},
	}
	for _, tt := range tests {
		u, err := ParseUUID(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseUUID(%q) = %v, want error", tt.in, u)
			}
			continue
		}
		if err != nil || u.String() != want {
			t.Errorf("ParseUUID(%q) = %v, %v; want %s", tt.in, u, err, want)
		}
	}
}

func TestVendorClassUUID(t *testing.T) {
	vendor := mustParseUUID(t, "0637e301-e05d-505b-8267-486f5677de9b")
	raw := "a269d48e-6987-5cc6-becc-22065907d317"
	tests := []struct {
		name    string
		resolve func() (UUID, error)
		want    string
		wantErr string
	}{
		{"vendor name", func() (UUID, error) { return VendorUUID("acme.example") }, vendor.String(), ""},
		{"vendor raw", func() (UUID, error) { return VendorUUID(raw) }, raw, ""},
		{"vendor empty", func() (UUID, error) { return VendorUUID("") }, "", "empty name"},
		{"vendor control char", func() (UUID, error) { return VendorUUID("a\nb") }, "", "control character"},
		{"class name", func() (UUID, error) { return ClassUUID(&vendor, "sensor-v2") }, raw, ""},
		{"class raw without vendor", func() (UUID, error) { return ClassUUID(nil, raw) }, raw, ""},
		{"class name without vendor", func() (UUID, error) { return ClassUUID(nil, "sensor-v2") }, "", "needs a vendor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := tt.resolve()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", u, err, tt.wantErr)
				}
				return
			}
			if err != nil || u.String() != tt.want {
				t.Fatalf("got %v, %v; want %s", u, err, tt.want)
			}
		})
	}
}

func TestUUIDText(t *testing.T) {
	u := NameUUID(NamespaceDNS, "acme.example")
	b, err := json.Marshal(u)
	if err != nil || string(b) != `"0637e301-e05d-505b-8267-486f5677de9b"` {
		t.Fatalf("json.Marshal = %s, %v", b, err)
	}
	var back UUID
	if err := json.Unmarshal(b, &back); err != nil || back != u {
		t.Fatalf("json.Unmarshal = %v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`"nope"`), &back); err == nil {
		t.Error("json.Unmarshal accepted a bad UUID")
	}
}
