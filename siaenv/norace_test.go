//go:build !race

package siaenv

const raceEnabled = false
