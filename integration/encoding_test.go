package integration

import "testing"

func TestEncoding(t *testing.T) {
	tests := []struct {
		in      string
		want    Encoding
		wantErr bool
	}{
		{"", EncodingAuto, false},
		{"auto", EncodingAuto, false},
		{"JSON", EncodingJSON, false},
		{"protobuf", EncodingProtobuf, false},
		{"proto", EncodingProtobuf, false},
		{"xml", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseEncoding(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseEncoding(%q) = %v, %v", tt.in, got, err)
		}
	}
	for _, tt := range []struct {
		enc     Encoding
		payload string
		want    Encoding
	}{
		{EncodingAuto, `{"a":1}`, EncodingJSON},
		{EncodingAuto, "\x0a\x02ab", EncodingProtobuf},
		{EncodingAuto, "", EncodingProtobuf},
		{EncodingProtobuf, `{"a":1}`, EncodingProtobuf},
		{EncodingJSON, "\x0a", EncodingJSON},
	} {
		if got := tt.enc.resolve([]byte(tt.payload)); got != tt.want {
			t.Errorf("%v.resolve(%q) = %v, want %v", tt.enc, tt.payload, got, tt.want)
		}
	}
}
