package main

import (
	"github.com/sia-agent/sia-agent/agent/cli"
	"github.com/sia-agent/sia-agent/siaenv"
)

// convert is the convert command's converter: siaenv, which builds the
// providers' typed configs.
func convert(env map[string]string, reportUnknown bool) cli.Conversion {
	res := siaenv.Convert(env, siaenv.Options{ReportUnknown: reportUnknown})
	out := cli.Conversion{Pipeline: res.Pipeline}
	for _, f := range res.Findings {
		out.Findings = append(out.Findings, cli.Finding{
			Var:         f.Var,
			Text:        f.String(),
			Invalid:     f.Severity == siaenv.Invalid,
			Unsupported: f.Severity == siaenv.Unsupported,
		})
	}
	return out
}
