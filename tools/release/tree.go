package main

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// entry is a file or directory of an archive or image layer.
type entry struct {
	name string // slash-separated, relative: usr/bin/sia-agent
	mode fs.FileMode
	dir  bool
	src  string // the file on disk to copy, or
	data []byte // its contents
}

// tree is an archive's entries, by name. Directories leading to an entry
// are added with mode 0755 unless the tree has them.
type tree map[string]entry

func (t tree) file(name string, mode fs.FileMode, src string) {
	t[name] = entry{name: name, mode: mode, src: src}
}

func (t tree) data(name string, mode fs.FileMode, data []byte) {
	t[name] = entry{name: name, mode: mode, data: data}
}

func (t tree) dir(name string, mode fs.FileMode) {
	t[name] = entry{name: name, mode: mode, dir: true}
}

// sorted returns the entries in name order, every parent directory
// first.
func (t tree) sorted() []entry {
	all := make(tree, len(t))
	for name, e := range t {
		all[name] = e
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				if have, ok := t[d]; ok {
					all[d] = have
				} else {
					all[d] = entry{name: d, mode: 0o755, dir: true}
				}
			}
		}
	}
	es := make([]entry, 0, len(all))
	for _, e := range all {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return es
}

// writeTar writes the tree as a tar stream owned by root, every time
// epoch, under prefix (e.g. "sia-agent_v1.0.0_linux_amd64/" or "").
func (t tree) writeTar(w io.Writer, prefix string, epoch time.Time) error {
	tw := tar.NewWriter(w)
	for _, e := range t.sorted() {
		if err := writeEntry(tw, prefix, e, epoch); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, prefix string, e entry, epoch time.Time) error {
	h := &tar.Header{
		Name:    prefix + e.name,
		Mode:    int64(e.mode.Perm()),
		ModTime: epoch,
		Format:  tar.FormatPAX,
		Uname:   "root",
		Gname:   "root",
	}
	if e.mode&fs.ModeSticky != 0 {
		h.Mode |= 0o1000
	}
	if e.dir {
		h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		return tw.WriteHeader(h)
	}
	data := e.data
	if e.src != "" {
		var err error
		if data, err = os.ReadFile(e.src); err != nil {
			return err
		}
	}
	h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", e.name, err)
	}
	_, err := tw.Write(data)
	return err
}

// writeTarGz writes the tree as a gzipped tar file at file.
func (t tree) writeTarGz(file, prefix string, epoch time.Time) error {
	return writeFile(file, func(w io.Writer) error {
		zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
		if err != nil {
			return err
		}
		if err := t.writeTar(zw, prefix, epoch); err != nil {
			return err
		}
		return zw.Close()
	})
}

// dirTree is the tree of the files below dir: directories 0755, files
// 0644.
func dirTree(dir string) (tree, error) {
	t := tree{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			t.dir(filepath.ToSlash(rel), 0o755)
		} else {
			t.file(filepath.ToSlash(rel), 0o644, p)
		}
		return nil
	})
	return t, err
}

// writeFile writes file through a temporary file renamed over it, so
// that a failed run leaves no half-written artifact.
func writeFile(file string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}
