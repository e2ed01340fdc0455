package ztsdev

import _ "embed"

//go:embed demo.yaml
var demoConfig string

// DemoConfig is the built-in data set zts-dev serves when it is given no
// config file. configs/zts-dev/demo.yaml is a copy of it (a test keeps
// them identical).
func DemoConfig() []byte { return []byte(demoConfig) }
