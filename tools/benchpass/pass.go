package benchpass

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gochannels/gochannels/tools/loadtest"
)

// Options configure a pass.
type Options struct {
	// Repo is the repository root; Out the directory for the report, the binaries and the
	// raw outputs (created).
	Repo, Out string
	// Only names the sections to run (nil: all).
	Only []string
	// Repeat is how often each short command runs (default 3); a run's own Repeat wins.
	Repeat int
	// Quick runs every command once with tiny sizes, to check the pass itself.
	Quick bool
	// AllowDirty runs on a work tree with uncommitted changes, flagging the report.
	AllowDirty bool
	// Progress receives each section's estimate, each command as it starts and each run's
	// duration (nil: discarded).
	Progress io.Writer
}

// RowResult is one row of a run's table: each figure's spread over the samples.
type RowResult struct {
	Row     string            `json:"row"`
	Spreads []loadtest.Spread `json:"spreads"`
}

// RunResult is the outcome of one Run.
type RunResult struct {
	Name     string      `json:"name"`
	Source   string      `json:"source"`
	Command  string      `json:"command"`
	Runs     int         `json:"runs"`
	Rows     []RowResult `json:"rows"`
	Columns  []string    `json:"-"`
	Seconds  float64     `json:"seconds"`
	Error    string      `json:"error,omitempty"`
	RawFiles []string    `json:"raw_files"`
}

// SectionResult is the outcome of one Section.
type SectionResult struct {
	Name             string      `json:"name"`
	Title            string      `json:"title"`
	EstimatedSeconds float64     `json:"estimated_seconds"`
	Seconds          float64     `json:"seconds"`
	Skipped          string      `json:"skipped,omitempty"`
	Runs             []RunResult `json:"runs"`
}

// Report is the outcome of a pass.
type Report struct {
	Machine          *Machine        `json:"machine"`
	Quick            bool            `json:"quick"`
	Repeat           int             `json:"repeat"`
	Builds           []string        `json:"builds"`
	BuildSeconds     float64         `json:"build_seconds"`
	EstimatedSeconds float64         `json:"estimated_seconds"`
	Seconds          float64         `json:"seconds"`
	Sections         []SectionResult `json:"sections"`
}

// Failed reports whether a run failed or a section was skipped.
func (r *Report) Failed() bool {
	for _, s := range r.Sections {
		if s.Skipped != "" {
			return true
		}
		for _, run := range s.Runs {
			if run.Error != "" {
				return true
			}
		}
	}
	return false
}

// Select returns the sections named in only (all for none), in pass order.
func Select(only []string) ([]Section, error) {
	all := Sections()
	if len(only) == 0 {
		return all, nil
	}
	var out []Section
	for _, s := range all {
		if slices.Contains(only, s.Name) {
			out = append(out, s)
		}
	}
	for _, name := range only {
		if !slices.ContainsFunc(all, func(s Section) bool { return s.Name == name }) {
			return nil, fmt.Errorf("benchpass: no section %q (have %s)", name, strings.Join(SectionNames(), ", "))
		}
	}
	return out, nil
}

// SectionNames lists every section's name in pass order.
func SectionNames() []string {
	var names []string
	for _, s := range Sections() {
		names = append(names, s.Name)
	}
	return names
}

// Pass runs the selected sections and writes report.md, report.json, the binaries (bin/)
// and every run's raw output (raw/) under opts.Out. A section whose services are missing is
// skipped and says why; a command that fails is reported with its error and the pass goes
// on. The error is for a pass that could not run at all (a dirty tree, a failed build).
func Pass(ctx context.Context, opts Options) (*Report, error) {
	if opts.Repeat < 1 {
		opts.Repeat = 3
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	sections, err := Select(opts.Only)
	if err != nil {
		return nil, err
	}
	m, err := Describe(ctx, opts.Repo, opts.AllowDirty)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Report{Machine: m, Quick: opts.Quick, Repeat: opts.Repeat}
	for _, s := range sections {
		rep.EstimatedSeconds += s.Estimate(opts.Repeat, opts.Quick).Seconds()
	}
	binDir := filepath.Join(opts.Out, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, fmt.Errorf("benchpass: %w", err)
	}
	fmt.Fprintf(progress, "benchpass: commit %s%s, %d section(s), estimated %v\n", m.Commit, dirtyText(m.Dirty), len(sections), round(rep.EstimatedSeconds))
	var names []string
	for _, s := range sections {
		for _, r := range s.Runs {
			if !slices.Contains(names, r.Bin) {
				names = append(names, r.Bin)
			}
			if r.Bin == "chatload" && !slices.Contains(names, "chat") {
				names = append(names, "chat")
			}
		}
	}
	buildStart := time.Now()
	rep.Builds, err = build(ctx, opts.Repo, binDir, names)
	rep.BuildSeconds = time.Since(buildStart).Seconds()
	if err != nil {
		return rep, err
	}
	fmt.Fprintf(progress, "benchpass: built %d binaries in %v\n", len(names), round(rep.BuildSeconds))
	for _, s := range sections {
		res := runSection(ctx, opts, s, binDir, progress)
		rep.Sections = append(rep.Sections, res)
		if ctx.Err() != nil {
			break
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	if err := writeReport(opts.Out, rep); err != nil {
		return rep, err
	}
	return rep, ctx.Err()
}

// runSection runs one section's commands.
func runSection(ctx context.Context, opts Options, s Section, binDir string, progress io.Writer) SectionResult {
	est := s.Estimate(opts.Repeat, opts.Quick)
	res := SectionResult{Name: s.Name, Title: s.Title, EstimatedSeconds: est.Seconds()}
	fmt.Fprintf(progress, "\n== %s: %s (estimated %v)\n", s.Name, s.Title, est)
	var why []string
	for _, n := range s.Needs() {
		if m := missing(ctx, n); m != "" {
			why = append(why, m)
		}
	}
	if len(why) > 0 {
		res.Skipped = strings.Join(why, "; ")
		fmt.Fprintf(progress, "   skipped: %s\n", res.Skipped)
		return res
	}
	start := time.Now()
	for i, r := range s.Runs {
		res.Runs = append(res.Runs, runOne(ctx, opts, s.Name, i, r, binDir, progress))
		if ctx.Err() != nil {
			break
		}
	}
	res.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(progress, "== %s took %v (estimated %v)\n", s.Name, round(res.Seconds), est)
	return res
}

// runOne runs one Run its number of times and computes each row's spread.
func runOne(ctx context.Context, opts Options, section string, idx int, r Run, binDir string, progress io.Writer) RunResult {
	rawDir := filepath.Join(opts.Out, "raw", section)
	args := r.Args
	if opts.Quick {
		args = r.Quick
	}
	args = slices.Clone(args)
	for i, a := range args {
		a = strings.ReplaceAll(a, "{bin}", binDir)
		args[i] = strings.ReplaceAll(a, "{raw}", rawDir)
	}
	bin := filepath.Join(binDir, r.Bin)
	res := RunResult{Name: r.Name, Source: r.Source, Command: strings.TrimSpace(bin + " " + strings.Join(args, " ")), Columns: r.Columns}
	if err := os.MkdirAll(rawDir, 0o755); err != nil {
		res.Error = err.Error()
		return res
	}
	n := r.times(opts.Repeat, opts.Quick)
	est := r.Est
	if opts.Quick {
		est = r.QuickEst
	}
	fmt.Fprintf(progress, "$ %s    # %s, %d run(s) of about %v\n", res.Command, r.Source, n, est)
	start := time.Now()
	var samples []Sample
	for i := range n {
		base := filepath.Join(rawDir, fmt.Sprintf("%02d-%s-%d", idx, slug(r.Name), i+1))
		runStart := time.Now()
		out, err := execute(ctx, binaries[r.Bin].dir(opts.Repo), bin, args, base, est)
		res.RawFiles = append(res.RawFiles, base+".out", base+".err")
		if err == nil {
			var got []Sample
			if got, err = r.Parse(out); err == nil {
				samples = append(samples, got...)
				res.Runs++
			}
		}
		fmt.Fprintf(progress, "   run %d/%d: %v", i+1, n, time.Since(runStart).Round(100*time.Millisecond))
		if err != nil {
			res.Error = fmt.Sprintf("run %d of %d: %v", i+1, n, err)
			fmt.Fprintf(progress, ": FAILED: %v\n", err)
			break
		}
		fmt.Fprintln(progress)
	}
	res.Seconds = time.Since(start).Seconds()
	rows, err := spreads(ctx, samples)
	if err != nil && res.Error == "" {
		res.Error = err.Error()
	}
	res.Rows = rows
	return res
}

// execute runs one command, keeping its standard output and error in base.out and
// base.err; it gives up after the command's estimate times four plus ten minutes, a bound
// far past any sane run.
func execute(ctx context.Context, dir, bin string, args []string, base string, est time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*est+10*time.Minute)
	defer cancel()
	stdout, err := os.Create(base + ".out")
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := os.Create(base + ".err")
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) } // the tools stop their servers on SIGINT
	cmd.WaitDelay = 30 * time.Second
	runErr := cmd.Run()
	out, err := os.ReadFile(base + ".out")
	if err != nil {
		return nil, err
	}
	if runErr != nil {
		tail, _ := os.ReadFile(base + ".err")
		return out, fmt.Errorf("%w: %s", runErr, lastLines(string(tail), 5))
	}
	return out, nil
}

// spreads groups the samples by row, in first-seen order, and computes each figure's
// spread with loadtest.Repeat.
func spreads(ctx context.Context, samples []Sample) ([]RowResult, error) {
	var order []string
	byRow := map[string][]Sample{}
	for _, s := range samples {
		if _, ok := byRow[s.Row]; !ok {
			order = append(order, s.Row)
		}
		byRow[s.Row] = append(byRow[s.Row], s)
	}
	var rows []RowResult
	var errs []error
	for _, row := range order {
		ss := byRow[row]
		rep, err := loadtest.Repeat(ctx, len(ss), 0, func(_ context.Context, i int) (loadtest.Figured, error) {
			return figured(ss[i].Figures), nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("row %q: %w", row, err))
			continue
		}
		rows = append(rows, RowResult{Row: row, Spreads: rep.Spreads})
	}
	return rows, errors.Join(errs...)
}

// figured makes a sample's figures a loadtest.Figured.
type figured []loadtest.Figure

func (f figured) Figures() []loadtest.Figure { return f }

func (f figured) WriteText(w io.Writer) error {
	for _, x := range f {
		if _, err := fmt.Fprintf(w, "%s: %g\n", x.Name, x.Value); err != nil {
			return err
		}
	}
	return nil
}

// writeReport writes report.md and report.json.
func writeReport(dir string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644); err != nil {
		return fmt.Errorf("benchpass: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "report.md"))
	if err != nil {
		return fmt.Errorf("benchpass: %w", err)
	}
	if err := WriteMarkdown(f, rep); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// slug makes a file name part of a run's name.
func slug(s string) string {
	s = strings.Trim(nonWord.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func round(sec float64) time.Duration {
	return time.Duration(sec * float64(time.Second)).Round(time.Second)
}

func dirtyText(dirty bool) string {
	if dirty {
		return " (DIRTY work tree)"
	}
	return ""
}
