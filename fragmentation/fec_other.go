//go:build !amd64 || purego

package fragmentation

func accumulate(acc, tabs []byte, mat []uint64, w, es, tabSize int) {
	accumulateGeneric(acc, tabs, mat, w, es, tabSize)
}
