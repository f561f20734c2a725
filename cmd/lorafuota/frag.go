package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/lorafuota/lorafuota/fragmentation"
)

// newFragCmd is `lorafuota frag`: the TS004 FEC code on files and lines of
// fragments, and its recovery curve.
func newFragCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "frag",
		Short: "TS004 forward error correction: encode, decode, recovery curve",
	}
	cmd.AddCommand(newFragEncodeCmd(), newFragDecodeCmd(), newFragCurveCmd())
	return cmd
}

func matrixFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "matrix", "v1", "parity matrix generator: v1 (TS004 v1.0.0) or v2 (TS004 v2.0.0)")
}

// parseRedundancy reads a parity fragment count, or a percentage of nbFrag
// ("30%", rounded up).
func parseRedundancy(s string, nbFrag int) (int, error) {
	if p, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) {
			return 0, fmt.Errorf("--redundancy %q: want a count or a percentage", s)
		}
		return int(math.Ceil(float64(nbFrag) * f / 100)), nil
	}
	r, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || r < 0 {
		return 0, fmt.Errorf("--redundancy %q: want a count or a percentage", s)
	}
	return r, nil
}

func newFragEncodeCmd() *cobra.Command {
	var fragSize int
	var redundancy, matrix string
	cmd := &cobra.Command{
		Use:   "encode --fragment-size F --redundancy R [--matrix v1|v2] FILE",
		Short: "Split FILE into fragments plus parity fragments, one `N HEX` line each",
		Long: `Split FILE ("-" for standard input) into fragments of --fragment-size bytes,
padding the last one with zeros, and add --redundancy parity fragments (a count,
or a percentage of the uncoded fragments such as 30%). Writes one line per
fragment, "N HEX" with N from 1, as DataFragment N carries it. The session
parameters (NbFrag, padding) go to standard error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := fragmentation.ParseMatrix(matrix)
			if err != nil {
				return fmt.Errorf("--matrix: %w", err)
			}
			data, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			if fragSize < 1 {
				return fmt.Errorf("--fragment-size %d: must be 1..255", fragSize)
			}
			padded, padding := fragmentation.Pad(data, fragSize)
			nbFrag := len(padded) / fragSize
			r, err := parseRedundancy(redundancy, nbFrag)
			if err != nil {
				return err
			}
			frags, err := fragmentation.Encode(padded, fragSize, r, fragmentation.WithMatrix(v))
			if err != nil {
				return err
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			line := make([]byte, 0, 8+2*fragSize)
			for i, f := range frags {
				line = strconv.AppendInt(line[:0], int64(i+1), 10)
				line = append(line, ' ')
				line = hex.AppendEncode(line, f)
				line = append(line, '\n')
				if _, err := w.Write(line); err != nil {
					return err
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "nb-frag %d fragment-size %d padding %d redundancy %d matrix %v\n",
				nbFrag, fragSize, padding, r, v)
			return nil
		},
	}
	cmd.Flags().IntVar(&fragSize, "fragment-size", 0, "fragment size in bytes, 1..255")
	cmd.Flags().StringVar(&redundancy, "redundancy", "0", "parity fragments: a count, or a percentage of the uncoded fragments (30%)")
	matrixFlag(cmd, &matrix)
	_ = cmd.MarkFlagRequired("fragment-size")
	return cmd
}

func readInput(cmd *cobra.Command, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(cmd.InOrStdin())
	}
	return os.ReadFile(name)
}

func newFragDecodeCmd() *cobra.Command {
	var nbFrag, fragSize, padding, maxLost int
	var matrix string
	cmd := &cobra.Command{
		Use:   "decode --nb-frag M --fragment-size F [--padding P] [--max-lost L] [--matrix v1|v2]",
		Short: "Rebuild a data block from `N HEX` fragment lines on standard input",
		Long: `Read fragment lines "N HEX" from standard input, in any order, any subset,
duplicates allowed (blank lines and lines starting with # are skipped), and
write the data block, without padding, to standard output as soon as the
fragments received determine it. Fails naming how many more fragments are
needed at least, or that more than --max-lost uncoded fragments were lost.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := fragmentation.ParseMatrix(matrix)
			if err != nil {
				return fmt.Errorf("--matrix: %w", err)
			}
			d, err := fragmentation.NewDecoder(fragmentation.DecoderConfig{
				NbFrag: nbFrag, FragSize: fragSize, Padding: padding, Matrix: v, MaxLost: maxLost,
			})
			if err != nil {
				return err
			}
			if err := pushLines(d, cmd.InOrStdin()); err != nil {
				return err
			}
			st := d.Status()
			if !st.Done {
				if !st.Possible {
					return fmt.Errorf("incomplete: %d uncoded fragments lost, more than --max-lost %d (Lmax exceeded); %d coded fragments dropped",
						st.Lost, maxLost, st.Dropped)
				}
				return fmt.Errorf("incomplete: %d fragments missing, %d recovered from parity: need at least %d more fragments",
					st.Missing, st.Rank, st.Needed)
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			if _, err := d.WriteTo(w); err != nil {
				return err
			}
			return w.Flush()
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&nbFrag, "nb-frag", 0, "uncoded fragments in the block (NbFrag)")
	fl.IntVar(&fragSize, "fragment-size", 0, "fragment size in bytes")
	fl.IntVar(&padding, "padding", 0, "padding bytes at the end of the last fragment")
	fl.IntVar(&maxLost, "max-lost", 0, "Lmax: most uncoded fragments the decoder may lose (0: no limit)")
	matrixFlag(cmd, &matrix)
	_ = cmd.MarkFlagRequired("nb-frag")
	_ = cmd.MarkFlagRequired("fragment-size")
	return cmd
}

// pushLines feeds the decoder until the input ends or the block is complete.
func pushLines(d *fragmentation.Decoder, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var payload []byte
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		nStr, hexStr, ok := strings.Cut(text, " ")
		if !ok {
			return fmt.Errorf("line %d: want \"N HEX\", got %q", line, text)
		}
		n, err := strconv.Atoi(nStr)
		if err != nil {
			return fmt.Errorf("line %d: fragment counter %q: not a number", line, nStr)
		}
		payload, err = hex.AppendDecode(payload[:0], []byte(strings.TrimSpace(hexStr)))
		if err != nil {
			return fmt.Errorf("line %d: payload: %w", line, err)
		}
		done, err := d.Push(n, payload)
		switch {
		case errors.Is(err, fragmentation.ErrTooManyLost):
			// Counted in the status; later uncoded fragments may
			// still bring the loss within the limit.
		case err != nil:
			return fmt.Errorf("line %d: %w", line, err)
		case done:
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading fragments: %w", err)
	}
	return nil
}

func newFragCurveCmd() *cobra.Command {
	var nbFrag, trials, maxLost int
	var redundancy, matrix, loss, pngFile string
	var seed uint64
	cmd := &cobra.Command{
		Use:   "curve --nb-frag M --redundancy R [--loss 0,5%,10%,...] [--trials N] [--png FILE]",
		Short: "Simulate the recovery curve: success rate and extra fragments per loss rate",
		Long: `For a block of --nb-frag uncoded fragments sent in order with --redundancy
parity fragments (a count or a percentage), simulate --trials seeded sessions per
loss rate (independent losses) and print the share of sessions that complete and
the mean number of fragments they needed beyond NbFrag. --max-lost models the
device's Lmax. --png draws the curve.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := fragmentation.ParseMatrix(matrix)
			if err != nil {
				return fmt.Errorf("--matrix: %w", err)
			}
			r, err := parseRedundancy(redundancy, nbFrag)
			if err != nil {
				return err
			}
			rates, err := parseLossRates(loss)
			if err != nil {
				return err
			}
			cfg := fragmentation.CurveConfig{
				NbFrag: nbFrag, Redundancy: r, Matrix: v, MaxLost: maxLost,
				LossRates: rates, Trials: trials, Seed: seed,
			}
			pts, err := fragmentation.Curve(cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "# NbFrag %d, redundancy %d (%.1f%%), matrix %v, Lmax %s, %d trials per loss rate, seed %d\n",
				nbFrag, r, 100*float64(r)/float64(nbFrag), v, lmaxString(maxLost), trials, seed)
			fmt.Fprintf(out, "%6s %8s %11s %10s %14s\n", "loss", "success", "mean_extra", "max_extra", "too_many_lost")
			for _, p := range pts {
				extra := "-"
				if p.Successes > 0 {
					extra = strconv.FormatFloat(p.MeanExtra, 'f', 2, 64)
				}
				fmt.Fprintf(out, "%5.1f%% %7.1f%% %11s %10d %14d\n", 100*p.LossRate, 100*p.SuccessRate, extra, p.MaxExtra, p.TooManyLost)
			}
			if pngFile != "" {
				img := drawCurve(cfg, pts)
				f, err := os.Create(pngFile)
				if err != nil {
					return err
				}
				if err := png.Encode(f, img); err != nil {
					f.Close()
					return fmt.Errorf("writing %s: %w", pngFile, err)
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&nbFrag, "nb-frag", 0, "uncoded fragments in the block (NbFrag)")
	fl.StringVar(&redundancy, "redundancy", "", "parity fragments: a count, or a percentage of NbFrag (30%)")
	fl.StringVar(&loss, "loss", "0,5%,10%,15%,20%,25%,30%", "comma-separated loss rates, as fractions (0.1) or percentages (10%)")
	fl.IntVar(&trials, "trials", 100, "seeded trials per loss rate")
	fl.Uint64Var(&seed, "seed", 1, "random seed")
	fl.IntVar(&maxLost, "max-lost", 0, "device Lmax: most uncoded fragments it can lose (0: no limit)")
	fl.StringVar(&pngFile, "png", "", "also draw the curve to this PNG file")
	matrixFlag(cmd, &matrix)
	_ = cmd.MarkFlagRequired("nb-frag")
	_ = cmd.MarkFlagRequired("redundancy")
	return cmd
}

func lmaxString(maxLost int) string {
	if maxLost == 0 {
		return "unlimited"
	}
	return strconv.Itoa(maxLost)
}

func parseLossRates(s string) ([]float64, error) {
	var rates []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		scale := 1.0
		if p, ok := strings.CutSuffix(f, "%"); ok {
			f, scale = p, 0.01
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v*scale < 0 || v*scale > 1 {
			return nil, fmt.Errorf("--loss %q: want rates between 0 and 1 (or 0%% and 100%%)", s)
		}
		rates = append(rates, v*scale)
	}
	return rates, nil
}

// Curve chart geometry and colours.
const (
	chartW, chartH                           = 800, 500
	marginL, marginR, marginT, marginB       = 70, 80, 50, 60
	plotW, plotH                             = chartW - marginL - marginR, chartH - marginT - marginB
	successLegend, extraLegend, legendOffset = "success rate (%, left axis)", "mean extra fragments (right axis)", 10
)

var (
	colAxis    = color.RGBA{0x30, 0x30, 0x30, 0xff}
	colGrid    = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	colSuccess = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	colExtra   = color.RGBA{0xd6, 0x27, 0x28, 0xff}
)

// drawCurve draws success rate (left axis, 0–100 %) and mean extra
// fragments (right axis) against the loss rate.
func drawCurve(cfg fragmentation.CurveConfig, pts []fragmentation.CurvePoint) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, chartW, chartH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)

	maxLoss := 0.0
	maxExtra := 1.0
	for _, p := range pts {
		maxLoss = max(maxLoss, p.LossRate)
		if p.Successes > 0 {
			maxExtra = max(maxExtra, p.MeanExtra)
		}
	}
	if maxLoss == 0 {
		maxLoss = 0.01
	}
	extraTop := math.Ceil(maxExtra)
	x := func(loss float64) int { return marginL + int(math.Round(loss/maxLoss*plotW)) }
	ySucc := func(rate float64) int { return marginT + plotH - int(math.Round(rate*plotH)) }
	yExtra := func(e float64) int { return marginT + plotH - int(math.Round(e/extraTop*plotH)) }

	// Grid and axes.
	for i := 0; i <= 10; i++ {
		y := marginT + plotH - i*plotH/10
		hline(img, marginL, marginL+plotW, y, colGrid)
		label(img, marginL-8, y+4, fmt.Sprintf("%d", 10*i), colAxis, alignRight)
		label(img, marginL+plotW+8, y+4, strconv.FormatFloat(extraTop*float64(i)/10, 'f', 1, 64), colAxis, alignLeft)
	}
	for _, p := range pts {
		vline(img, x(p.LossRate), marginT, marginT+plotH, colGrid)
		label(img, x(p.LossRate), marginT+plotH+18, strconv.FormatFloat(100*p.LossRate, 'f', -1, 64), colAxis, alignCenter)
	}
	hline(img, marginL, marginL+plotW, marginT+plotH, colAxis)
	vline(img, marginL, marginT, marginT+plotH, colAxis)
	vline(img, marginL+plotW, marginT, marginT+plotH, colAxis)
	label(img, marginL+plotW/2, chartH-15, "loss rate (%)", colAxis, alignCenter)
	title := fmt.Sprintf("TS004 FEC %v: NbFrag %d, redundancy %d, Lmax %s, %d trials/point",
		cfg.Matrix, cfg.NbFrag, cfg.Redundancy, lmaxString(cfg.MaxLost), cfg.Trials)
	label(img, chartW/2, 22, title, colAxis, alignCenter)
	legend := marginL + legendOffset
	hline(img, legend, legend+20, marginT+12, colSuccess)
	label(img, legend+26, marginT+16, successLegend, colSuccess, alignLeft)
	hline(img, legend, legend+20, marginT+28, colExtra)
	label(img, legend+26, marginT+32, extraLegend, colExtra, alignLeft)

	// Success rate at every point; mean extra only where a trial succeeded.
	for i, p := range pts {
		marker(img, x(p.LossRate), ySucc(p.SuccessRate), colSuccess)
		if i > 0 {
			q := pts[i-1]
			line(img, x(q.LossRate), ySucc(q.SuccessRate), x(p.LossRate), ySucc(p.SuccessRate), colSuccess)
		}
		if p.Successes == 0 {
			continue
		}
		marker(img, x(p.LossRate), yExtra(p.MeanExtra), colExtra)
		if i > 0 && pts[i-1].Successes > 0 {
			q := pts[i-1]
			line(img, x(q.LossRate), yExtra(q.MeanExtra), x(p.LossRate), yExtra(p.MeanExtra), colExtra)
		}
	}
	return img
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

// line draws a 2-pixel-wide segment (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		img.Set(x0, y0+1, c)
		img.Set(x0+1, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func marker(img *image.RGBA, x, y int, c color.Color) {
	for i := -3; i <= 3; i++ {
		for j := -3; j <= 3; j++ {
			img.Set(x+i, y+j, c)
		}
	}
}

func abs(v int) int { return max(v, -v) }

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

type alignment int

const (
	alignLeft alignment = iota
	alignCenter
	alignRight
)

func label(img *image.RGBA, x, y int, s string, c color.Color, a alignment) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13}
	w := d.MeasureString(s).Round()
	switch a {
	case alignCenter:
		x -= w / 2
	case alignRight:
		x -= w
	}
	d.Dot = fixed.P(x, y)
	d.DrawString(s)
}
