//go:build amd64 && !purego

package fragmentation

// accumulateSSE2 is accumulateGeneric in SSE2 (baseline amd64): rows
// accumulators of es bytes at acc, the selector of row k at sel + k·stride
// bytes, 8 tables of tabSize bytes at tabs. es must be a positive multiple of
// 16.
//
//go:noescape
func accumulateSSE2(acc, tabs *byte, sel *uint64, rows, stride, es, tabSize int)

// accumulate is accumulateGeneric. The table lookups are most of the XOR work;
// in Go each 8-entry lookup pays for slicing and bounds checks or calls that
// cost as much as its XORs at small fragment sizes.
func accumulate(acc, tabs []byte, mat []uint64, w, es, tabSize int) {
	rows := len(acc) / es
	if rows == 0 || es%16 != 0 || len(acc) != rows*es {
		accumulateGeneric(acc, tabs, mat, w, es, tabSize)
		return
	}
	// The kernel reads tabs[:8*tabSize] and mat[k*w] for k < rows.
	_ = tabs[8*tabSize-1]
	_ = mat[(rows-1)*w]
	accumulateSSE2(&acc[0], &tabs[0], &mat[0], rows, 8*w, es, tabSize)
}
