package fuota

import (
	"testing"
)

// FuzzUnmarshalDeployment feeds arbitrary stored blobs to UnmarshalDeployment,
// as a corrupted or foreign Redis record would be: an error, never a panic.
func FuzzUnmarshalDeployment(f *testing.F) {
	f.Add([]byte(`{"version":1}`), []byte("image"))
	f.Add([]byte(`{"version":1,"id":"d","plan_request":{"ImageSize":1,"Region":"EU868","DR":5}}`), []byte{1})
	f.Add([]byte(`not json`), []byte{})
	f.Fuzz(func(t *testing.T, blob, image []byte) {
		d, err := UnmarshalDeployment(blob, image)
		if err != nil {
			return
		}
		if _, err := d.MarshalBinary(); err != nil {
			t.Fatalf("a deployment that unmarshalled does not marshal: %v", err)
		}
	})
}
