package applayer

// CIDPackageVersion is the CID of PackageVersionReq/Ans in every package.
const CIDPackageVersion = 0x00

// PackageVersionReq asks which version of a package the device implements.
// Every package has it, with an empty payload.
type PackageVersionReq struct{}

func (*PackageVersionReq) CID() byte                           { return CIDPackageVersion }
func (*PackageVersionReq) Name() string                        { return "PackageVersionReq" }
func (*PackageVersionReq) MarshalBinary() ([]byte, error)      { return []byte{CIDPackageVersion}, nil }
func (*PackageVersionReq) DecodePayload(b []byte) (int, error) { return 0, nil }
func (c *PackageVersionReq) UnmarshalBinary(b []byte) error    { return Unmarshal(c, b) }

// PackageVersionAns answers PackageVersionReq: the package identifier and the
// version the device implements.
type PackageVersionAns struct {
	PackageIdentifier uint8 `json:"package_identifier"`
	PackageVersion    uint8 `json:"package_version"`
}

func (*PackageVersionAns) CID() byte    { return CIDPackageVersion }
func (*PackageVersionAns) Name() string { return "PackageVersionAns" }

func (c *PackageVersionAns) MarshalBinary() ([]byte, error) {
	return []byte{CIDPackageVersion, c.PackageIdentifier, c.PackageVersion}, nil
}

func (c *PackageVersionAns) DecodePayload(b []byte) (int, error) {
	if err := Need(b, 2); err != nil {
		return 0, err
	}
	c.PackageIdentifier, c.PackageVersion = b[0], b[1]
	return 2, nil
}

func (c *PackageVersionAns) UnmarshalBinary(b []byte) error { return Unmarshal(c, b) }

// VersionSpecs returns the PackageVersionReq/Ans entries for a package's command
// table, valid in versions min..max.
func VersionSpecs(min, max uint8) []CommandSpec {
	return []CommandSpec{
		{CID: CIDPackageVersion, Dir: Downlink, Name: "PackageVersionReq", MinVersion: min, MaxVersion: max,
			New: func(uint8) Command { return &PackageVersionReq{} }},
		{CID: CIDPackageVersion, Dir: Uplink, Name: "PackageVersionAns", MinVersion: min, MaxVersion: max,
			New: func(uint8) Command { return &PackageVersionAns{} }},
	}
}

// PutUint24 writes v as 3 little-endian bytes. The caller checks v < 1<<24.
func PutUint24(b []byte, v uint32) {
	b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16)
}

// Uint24 reads 3 little-endian bytes.
func Uint24(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
}
