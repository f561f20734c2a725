//go:build amd64 && !purego

#include "textflag.h"

// func accumulateSSE2(acc, tabs *byte, sel *uint64, rows, stride, es, tabSize int)
//
// For each of rows accumulators (es bytes at acc): XOR in entry b_t of table
// t for t = 0..7, where b_t is byte t of the row's selector word, table t
// starts at tabs + t·tabSize and entry b at b·es. Four tables at a time, so
// that every pointer stays in a register.
TEXT ·accumulateSSE2(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ tabs+8(FP), SI
	MOVQ sel+16(FP), R8
	MOVQ rows+24(FP), R9
	MOVQ stride+32(FP), R10
	MOVQ es+40(FP), R11
	MOVQ tabSize+48(FP), R12
	TESTQ R9, R9
	JZ   done

row:
	MOVQ (R8), R13 // selector word
	MOVQ SI, AX    // table 0

	// Entries of tables 0..3 in BX, CX, DX, R14; AX ends at table 4.
	MOVBQZX R13, BX
	IMULQ   R11, BX
	ADDQ    AX, BX
	ADDQ    R12, AX
	SHRQ    $8, R13
	MOVBQZX R13, CX
	IMULQ   R11, CX
	ADDQ    AX, CX
	ADDQ    R12, AX
	SHRQ    $8, R13
	MOVBQZX R13, DX
	IMULQ   R11, DX
	ADDQ    AX, DX
	ADDQ    R12, AX
	SHRQ    $8, R13
	MOVBQZX R13, R14
	IMULQ   R11, R14
	ADDQ    AX, R14
	ADDQ    R12, AX
	XORQ    R15, R15

low:
	MOVOU (DI)(R15*1), X0
	MOVOU (BX)(R15*1), X1
	MOVOU (CX)(R15*1), X2
	MOVOU (DX)(R15*1), X3
	MOVOU (R14)(R15*1), X4
	PXOR  X1, X0
	PXOR  X3, X2
	PXOR  X4, X0
	PXOR  X2, X0
	MOVOU X0, (DI)(R15*1)
	ADDQ  $16, R15
	CMPQ  R15, R11
	JB    low

	// Tables 4..7.
	SHRQ    $8, R13
	MOVBQZX R13, BX
	IMULQ   R11, BX
	ADDQ    AX, BX
	ADDQ    R12, AX
	SHRQ    $8, R13
	MOVBQZX R13, CX
	IMULQ   R11, CX
	ADDQ    AX, CX
	ADDQ    R12, AX
	SHRQ    $8, R13
	MOVBQZX R13, DX
	IMULQ   R11, DX
	ADDQ    AX, DX
	ADDQ    R12, AX
	SHRQ    $8, R13
	MOVBQZX R13, R14
	IMULQ   R11, R14
	ADDQ    AX, R14
	XORQ    R15, R15

high:
	MOVOU (DI)(R15*1), X0
	MOVOU (BX)(R15*1), X1
	MOVOU (CX)(R15*1), X2
	MOVOU (DX)(R15*1), X3
	MOVOU (R14)(R15*1), X4
	PXOR  X1, X0
	PXOR  X3, X2
	PXOR  X4, X0
	PXOR  X2, X0
	MOVOU X0, (DI)(R15*1)
	ADDQ  $16, R15
	CMPQ  R15, R11
	JB    high

	ADDQ R11, DI
	ADDQ R10, R8
	DECQ R9
	JNZ  row

done:
	RET
