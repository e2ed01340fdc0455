package pipeline

import "sort"

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}

func sortedProfileKeys(m map[string]*profileProvider) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return sortStrings(keys)
}
