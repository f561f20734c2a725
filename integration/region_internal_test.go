package integration

import (
	"testing"

	"github.com/chirpstack/chirpstack/api/go/v4/common"
)

func TestChirpStackRegion(t *testing.T) {
	for in, want := range map[string]string{"EU868": "EU868", "AS923": "AS923", "AS923-1": "AS923", "AS923-2": "AS923_2", "AS923_4": "AS923_4", "US915": "US915"} {
		got, ok := chirpStackRegion(in)
		if !ok || common.Region_name[got] != want {
			t.Errorf("chirpStackRegion(%q) = %v, %v; want %s", in, common.Region_name[got], ok, want)
		}
	}
	if _, ok := chirpStackRegion("EU433X"); ok {
		t.Error("an unknown region was accepted")
	}
}
