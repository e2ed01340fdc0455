package pluginpb

import "github.com/sia-agent/sia-agent/sdk/conf"

// FromProblem converts a configuration problem, its path step by step.
func FromProblem(p *conf.Problem) *Problem {
	// Lines and columns of a file of at most a few MiB; indexes of its sequences.
	out := &Problem{File: p.File, Line: int32(p.Line), Column: int32(p.Column), Key: p.Path.String(), Message: p.Message} //nolint:gosec // G115: see above
	for _, s := range p.Path.Steps() {
		if s.IsIndex {
			out.Path = append(out.Path, &PathStep{Step: &PathStep_Index{Index: uint32(s.Index)}}) //nolint:gosec // G115: see above
		} else {
			out.Path = append(out.Path, &PathStep{Step: &PathStep_Key{Key: s.Key}})
		}
	}
	return out
}

// Conf converts the problem back. Without a path, the key's text becomes
// a path of one key: it reads the same, though no other path is below it.
func (p *Problem) Conf() *conf.Problem {
	var path conf.Path
	for _, s := range p.GetPath() {
		switch s := s.GetStep().(type) {
		case *PathStep_Index:
			path = path.Index(int(s.Index))
		case *PathStep_Key:
			path = path.Key(s.Key)
		}
	}
	if path.IsRoot() && p.GetKey() != "" {
		path = conf.P(p.GetKey())
	}
	return &conf.Problem{File: p.GetFile(), Line: int(p.GetLine()), Column: int(p.GetColumn()), Path: path, Message: p.GetMessage()}
}
