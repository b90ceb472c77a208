package guest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-rc/tandem/transport/wire"
)

// filesCommand is "tandem-guest files ls|put|get".
func filesCommand(connect func(context.Context, string) (*Session, error), timeout func() time.Duration) *cobra.Command {
	fc := &cobra.Command{Use: "files", Short: "Transfer files to and from a device (paths are relative to its transfer folder)"}
	// withFiles connects and runs fn; transfers run until done or
	// interrupted (Ctrl+C keeps the partial file for --resume).
	withFiles := func(cmd *cobra.Command, device string, fn func(ctx context.Context, f *Files) error) error {
		s, err := connect(cmd.Context(), device)
		if err != nil {
			return err
		}
		defer s.Close()
		return fn(cmd.Context(), s.Files())
	}

	ls := &cobra.Command{Use: "ls DEVICE [PATH]", Short: "List a folder on the device", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 2 {
				dir = args[1]
			}
			return withFiles(cmd, args[0], func(ctx context.Context, f *Files) error {
				ctx, cancel := context.WithTimeout(ctx, timeout())
				defer cancel()
				l, err := f.List(ctx, dir)
				if err != nil {
					return err
				}
				return printListing(os.Stdout, l)
			})
		}}

	var resume, overwrite, quiet bool
	flags := func(c *cobra.Command) {
		c.Flags().BoolVar(&resume, "resume", false, "continue an interrupted transfer of the same file")
		c.Flags().BoolVar(&overwrite, "overwrite", false, "replace the destination if it exists")
		c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	}
	opts := func(name string) TransferOptions {
		o := TransferOptions{Resume: resume, Overwrite: overwrite}
		if !quiet {
			o.Progress = progressPrinter(os.Stderr, name)
		}
		return o
	}
	report := func(verb, from, to string, st *TransferStats) {
		if !quiet {
			fmt.Fprintln(os.Stderr)
		}
		extra := ""
		if st.ResumedFrom > 0 {
			extra = fmt.Sprintf(", resumed at %d", st.ResumedFrom)
		}
		fmt.Printf("%s %s → %s: %d bytes%s, sha256 %x verified\n", verb, from, to, st.Size, extra, st.SHA256)
	}

	put := &cobra.Command{Use: "put DEVICE LOCAL_FILE [REMOTE_PATH]", Short: "Upload a file (default: its name, in the transfer folder)",
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			remote := filepath.Base(args[1])
			if len(args) == 3 {
				remote = args[2]
			}
			return withFiles(cmd, args[0], func(ctx context.Context, f *Files) error {
				st, err := f.Put(ctx, args[1], remote, opts(args[1]))
				if err != nil {
					return err
				}
				report("uploaded", args[1], remote, st)
				return nil
			})
		}}
	flags(put)

	get := &cobra.Command{Use: "get DEVICE REMOTE_PATH [LOCAL_FILE]", Short: "Download a file (default: its name, here)",
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			local := path.Base(args[1])
			if len(args) == 3 {
				local = args[2]
			}
			return withFiles(cmd, args[0], func(ctx context.Context, f *Files) error {
				st, err := f.Get(ctx, args[1], local, opts(args[1]))
				if err != nil {
					return err
				}
				report("downloaded", args[1], local, st)
				return nil
			})
		}}
	flags(get)
	fc.AddCommand(ls, put, get)
	return fc
}

func printListing(w io.Writer, l *wire.FileListing) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODE\tSIZE\tMODIFIED\tNAME")
	for _, e := range l.Entries {
		mode, size, name := "-", fmt.Sprint(e.Size), e.Name
		switch {
		case e.Mode&wire.FileModeDir != 0:
			mode, size, name = "d", "-", name+"/"
		case e.Mode&wire.FileModeSymlink != 0:
			mode, size = "l", "-"
		}
		mode += os.FileMode(e.Mode & 0o777).String()[1:]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", mode, size, time.Unix(e.ModTime, 0).Format("2006-01-02 15:04"), name)
	}
	if l.Truncated {
		fmt.Fprintf(tw, "\t\t\t(more than %d entries; list a subfolder)\n", len(l.Entries))
	}
	return tw.Flush()
}

// progressPrinter redraws one status line at most a few times a second.
func progressPrinter(w io.Writer, name string) func(done, total int64) {
	start := time.Now()
	var last time.Time
	var first int64 = -1
	return func(done, total int64) {
		if first < 0 {
			first = done
		}
		now := time.Now()
		if done < total && now.Sub(last) < 200*time.Millisecond {
			return
		}
		last = now
		pct := 100.0
		if total > 0 {
			pct = float64(done) * 100 / float64(total)
		}
		rate := float64(done-first) / max(now.Sub(start).Seconds(), 1e-3) / 1e6
		fmt.Fprintf(w, "\r%s  %5.1f%%  %s / %s  %.1f MB/s ", filepath.Base(name), pct, human(done), human(total), rate)
	}
}

func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
