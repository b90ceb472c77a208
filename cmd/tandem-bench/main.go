// Command tandem-bench measures Tandem's screen codec on recorded workloads
// (see "tandem-bench codec --help" and README.md, "Benchmarks").
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tandem-rc/tandem/capture/codec"
	"github.com/tandem-rc/tandem/internal/codecbench"
)

func main() {
	if err := newRootCmd().ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "tandem-bench:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "tandem-bench",
		Short:         "Benchmarks for Tandem's screen pipeline and relay",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newCodecCmd(), newUncoveredCmd(), newRelayCmd(), relayNode)
	return root
}

func newCodecCmd() *cobra.Command {
	var opts codecbench.Options
	var refine int
	cmd := &cobra.Command{
		Use:   "codec DIR...",
		Short: "Encode workload frames (DIR/f_%03d.png) and print peers.sh-style rows",
		Long: `codec encodes each workload directory (frames f_000.png, f_001.png, ... as
written by workloads.sh) with capture/codec and prints one row per workload in
the same columns as peers.sh: ms/frame is the median over --runs of the mean
encode time per frame (PNG decoding is not timed), first_B the first frame's
bytes, mean_B and p95_B the sizes of frames 2..N (an unchanged frame counts as
0 bytes), PSNR-Y the decoded output against the source ("inf" when lossless).
After the last frame the screen holds still (the last frame repeated) until
the decoder is pixel-exact: ttl_fr is how many still frames that takes (-1:
not within 30), ttl_B their bytes and ttl_ms@20M the time from the last change
to an exact screen at 30 fps on a 20 Mb/s link.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.RefineBudget = refine
			return codecbench.Run(cmd.OutOrStdout(), args, opts)
		},
	}
	cmd.Flags().IntVar(&opts.Runs, "runs", 3, "timed runs per workload (median reported)")
	cmd.Flags().IntVar(&opts.MaxFrames, "frames", 0, "use at most this many frames (0: all)")
	cmd.Flags().IntVar(&opts.Codec.Version, "format", 0, "payload version: 1 (tiles only) or 2 (default: copy, fill, palette ops)")
	cmd.Flags().StringVar(&opts.Name, "name", "", "encoder column (default tandem_tiles_v<format>)")
	cmd.Flags().IntVar(&opts.Codec.JPEGQuality, "jpeg", codec.DefaultJPEGQuality, "JPEG quality for photographic, changing tiles (0: lossless only)")
	cmd.Flags().BoolVar(&opts.Codec.Predict, "predict", false, "MED prediction before zstd for raw tiles (FlagPredict)")
	cmd.Flags().BoolVar(&opts.Codec.Motion, "motion", false, "build-to-lossless: photographic pixels a move or scroll uncovers go lossy (ATLAS op), refined when the motion stops")
	cmd.Flags().IntVar(&opts.Codec.RefineAfter, "refine-after", 1, "still frames before a lossy tile is refined lossless")
	cmd.Flags().IntVar(&refine, "refine-budget", 0, "lossy tiles refined per frame while the motion goes on")
	cmd.Flags().IntVar(&opts.Codec.TileSize, "tile", 0, "tile size in pixels (0: codec default)")
	return cmd
}

func newUncoveredCmd() *cobra.Command {
	var frames int
	cmd := &cobra.Command{
		Use:   "uncovered DIR WALLPAPER.png",
		Short: "Lossless lower bound of a window drag: the wallpaper it uncovers, coded by strong lossless coders",
		Long: `uncovered reads a drag workload (DIR/f_%03d.png) and the bare wallpaper it was
recorded over, finds the window in each frame (the pixels that differ from the
wallpaper), and measures the strips the window leaves: wallpaper the viewer has
never seen, which a lossless codec must send. Sizes are means per frame over
frames 2..N: raw RGB, zstd -19, MED residuals + zstd -19, and with xz and
ffmpeg (libwebp) installed xz -9e, MED + xz -9e and WebP lossless.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return codecbench.RunUncovered(cmd.OutOrStdout(), args[0], args[1], frames)
		},
	}
	cmd.Flags().IntVar(&frames, "frames", 0, "use at most this many frames (0: all)")
	return cmd
}
