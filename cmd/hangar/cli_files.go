package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

func filesCommand() *command {
	r := resource{name: "files", singular: "file", path: "/v1/files", id: "FILE_ID", deletable: true,
		cols: []column{{header: "ID", path: "id"}, {header: "NAME", path: "filename"}, {header: "SIZE", path: "size_bytes"},
			{header: "TYPE", path: "mime_type"}, createdCol},
	}
	var name string
	upload := &command{name: "upload", args: "PATH", summary: "Upload a file (- reads stdin; give --name then).",
		details: "Example:\n  hangar files upload report.csv\n",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "the file's `NAME` on the server (default: PATH's base name)")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := positional(args, "PATH"); err != nil {
				return err
			}
			var in io.Reader = c.env.stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
				if name == "" {
					name = filepath.Base(args[0])
				}
			}
			if name == "" {
				return usagef("uploading stdin needs --name")
			}
			ctype := mime.TypeByExtension(filepath.Ext(name))
			if ctype == "" {
				ctype = "application/octet-stream"
			}
			meta, err := c.sdk.Beta.Files.Upload(ctx, anthropic.BetaFileUploadParams{File: anthropic.File(in, name, ctype)})
			if err != nil {
				return err
			}
			return c.printObject([]byte(meta.RawJSON()), r.cols)
		}}
	var out string
	download := &command{name: "download", args: "FILE_ID", summary: "Download a file's content to stdout or -O PATH.",
		flags: func(fs *flag.FlagSet) { fs.StringVar(&out, "O", "", "write to `PATH` instead of stdout") },
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := positional(args, "FILE_ID"); err != nil {
				return err
			}
			resp, err := c.sdk.Beta.Files.Download(ctx, args[0], anthropic.BetaFileDownloadParams{})
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var w io.Writer = c.env.stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			n, err := io.Copy(w, resp.Body)
			if err != nil {
				return fmt.Errorf("download %s: %w", args[0], err)
			}
			if out != "" && out != "-" {
				fmt.Fprintf(c.env.stderr, "wrote %d bytes to %s\n", n, out)
			}
			return nil
		}}
	cmds := append([]*command{upload}, r.crud()...)
	cmds = append(cmds, download)
	return &command{name: "files", summary: "Manage files: upload once, mount into sessions, download outputs.", subs: cmds}
}
