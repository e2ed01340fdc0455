package bench

import (
	"fmt"
	"image/color"
	"os"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotFleet draws ZTS's requests per second (means over windows) in the
// steady scenario, its outage shaded, above the rollout's.
func plotFleet(path string, steady outcome, sc scenario, rollout outcome) error {
	top, err := ratePlot(steady, fmt.Sprintf("%d agents: steady state, a %v outage at %v, recovery", sc.agents, sc.outageFor, sc.outageAt),
		time.Hour, "hours", sc.outageAt, sc.outageAt+sc.outageFor)
	if err != nil {
		return err
	}
	bottom, err := ratePlot(rollout, fmt.Sprintf("%d agents started at once", sc.agents), time.Minute, "minutes", 0, 0)
	if err != nil {
		return err
	}
	img := vgimg.New(10*vg.Inch, 8*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Centimeter, PadTop: vg.Millimeter * 4, PadBottom: vg.Millimeter * 4, PadLeft: vg.Millimeter * 4, PadRight: vg.Millimeter * 4}
	plots := [][]*plot.Plot{{top}, {bottom}}
	canvases := plot.Align(plots, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ratePlot is o's requests and rejections per second over time, in unit,
// with [down, up) shaded when not empty.
func ratePlot(o outcome, title string, unit time.Duration, unitName string, down, up time.Duration) (*plot.Plot, error) {
	var sent, rejected plotter.XYs
	for w := time.Duration(0); int(w/time.Second) < len(o.requests); w += window {
		x := float64(w) / float64(unit)
		sent = append(sent, plotter.XY{X: x, Y: o.rate(w, w+window)})
		var rej int64
		for _, r := range o.rejected[int(w/time.Second):min(int((w+window)/time.Second), len(o.rejected))] {
			rej += int64(r)
		}
		rejected = append(rejected, plotter.XY{X: x, Y: float64(rej) / window.Seconds()})
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = unitName
	p.Y.Label.Text = "ZTS requests/s (10 s means)"
	p.Y.Min = 0
	if up > down {
		// Added first, the shade lies under the lines.
		top := 0.0
		for _, xy := range sent {
			top = max(top, xy.Y)
		}
		x0, x1 := float64(down)/float64(unit), float64(up)/float64(unit)
		shade, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: 0}, {X: x1, Y: 0}, {X: x1, Y: top}, {X: x0, Y: top}})
		if err != nil {
			return nil, err
		}
		shade.Color = color.RGBA{R: 255, G: 200, B: 200, A: 255}
		shade.LineStyle.Width = 0
		p.Add(shade)
		p.Legend.Add("ZTS down", shade)
	}
	l, err := plotter.NewLine(sent)
	if err != nil {
		return nil, err
	}
	l.Color = color.RGBA{B: 200, A: 255}
	r, err := plotter.NewLine(rejected)
	if err != nil {
		return nil, err
	}
	r.Color = color.RGBA{R: 220, A: 255}
	p.Add(l, r)
	p.Legend.Add("requests", l)
	p.Legend.Add("answered 503", r)
	p.Legend.Top = true
	return p, nil
}
