package benchpass

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gochannels/gochannels/tools/loadtest"
)

// WriteMarkdown writes the pass's report: the commit and the machine, then per section
// its estimate and duration and, per command, the command as BENCHMARKS.md gives it, the
// command as run, and a table of each figure's median and min–max over the runs.
func WriteMarkdown(w io.Writer, rep *Report) error {
	var b strings.Builder
	m := rep.Machine
	title := "Benchmark pass"
	if rep.Quick {
		title += " (-quick: tiny sizes, NOT figures to publish)"
	}
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	commit := "`" + m.Commit + "` " + m.Subject
	if m.Dirty {
		commit += " — **the work tree had uncommitted changes: these figures are not that commit's**"
	}
	for _, kv := range [][2]string{
		{"commit", commit}, {"date", m.Date}, {"CPU", fmt.Sprintf("%s, %d cores", m.CPU, m.Cores)},
		{"memory", m.Memory}, {"OS", m.OS + ", Linux " + m.Kernel}, {"Go", m.Go}, {"Redis", m.Redis},
		{"Python", m.Python}, {"Django reference", m.Django}, {"load average at the start", m.Load},
	} {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], orDash(kv[1]))
	}
	times := fmt.Sprintf("Each command ran %d times unless its heading says otherwise (-repeat)", rep.Repeat)
	if rep.Quick {
		times = "Each command ran once, with the -quick arguments shown under its heading (the heading gives the published command)"
	}
	fmt.Fprintf(&b, "\n%s; cells are the median and, when the runs differ, (min–max). Binaries built once (%v):\n\n", times, round(rep.BuildSeconds))
	for _, c := range rep.Builds {
		fmt.Fprintf(&b, "    %s\n", c)
	}
	fmt.Fprintf(&b, "\n| section | estimated | took | |\n|---|---|---|---|\n")
	for _, s := range rep.Sections {
		state := "ok"
		if s.Skipped != "" {
			state = "skipped: " + s.Skipped
		} else if n := failures(s); n > 0 {
			state = fmt.Sprintf("%d command(s) failed", n)
		}
		fmt.Fprintf(&b, "| %s | %v | %v | %s |\n", s.Name, round(s.EstimatedSeconds), round(s.Seconds), state)
	}
	fmt.Fprintf(&b, "| total (with the builds) | %v | %v | |\n", round(rep.EstimatedSeconds), round(rep.Seconds))
	for _, s := range rep.Sections {
		fmt.Fprintf(&b, "\n## %s: %s\n\nEstimated %v, took %v.\n", s.Name, s.Title, round(s.EstimatedSeconds), round(s.Seconds))
		if s.Skipped != "" {
			fmt.Fprintf(&b, "\n**Skipped**: %s.\n", s.Skipped)
			continue
		}
		for _, r := range s.Runs {
			writeRun(&b, r)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeRun writes one command's table.
func writeRun(b *strings.Builder, r RunResult) {
	fmt.Fprintf(b, "\n**%s** — `%s` (%d run(s), %v)\n\n", r.Name, r.Source, r.Runs, time.Duration(r.Seconds*float64(time.Second)).Round(time.Second))
	fmt.Fprintf(b, "    %s\n\n", r.Command)
	if r.Error != "" {
		fmt.Fprintf(b, "**FAILED**: %s\n\n", strings.ReplaceAll(r.Error, "\n", " "))
	}
	if len(r.Rows) == 0 {
		return
	}
	cols := r.Columns
	if cols == nil {
		for _, row := range r.Rows {
			for _, s := range row.Spreads {
				if !slices.Contains(cols, s.Name) {
					cols = append(cols, s.Name)
				}
			}
		}
	}
	fmt.Fprintf(b, "| %s | %s |\n|---|%s\n", "row", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
	for _, row := range r.Rows {
		name := row.Row
		if name == "" {
			name = r.Name
		}
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = "—"
			if j := slices.IndexFunc(row.Spreads, func(s loadtest.Spread) bool { return s.Name == c }); j >= 0 {
				cells[i] = cell(row.Spreads[j])
			}
		}
		fmt.Fprintf(b, "| %s | %s |\n", name, strings.Join(cells, " | "))
	}
}

// cell writes a spread: the median, and (min–max) when the runs differ.
func cell(s loadtest.Spread) string {
	if s.Min == s.Max {
		return num(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", num(s.Median), num(s.Min), num(s.Max))
}

// num writes a figure with thousands separators, and decimals only below 100.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case v == math.Trunc(v) && a < 1e15:
		return group(strconv.FormatFloat(v, 'f', 0, 64))
	case a >= 100:
		return group(strconv.FormatFloat(v, 'f', 0, 64))
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// group puts commas between thousands of an integer's digits.
func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func failures(s SectionResult) int {
	n := 0
	for _, r := range s.Runs {
		if r.Error != "" {
			n++
		}
	}
	return n
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}
