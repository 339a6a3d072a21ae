package pattern_test

import (
	"fmt"

	"github.com/dmfpipe/dmfpipe/ingest/pattern"
)

func ExamplePattern_Match() {
	p, err := pattern.Parse("customers_{company}_*.csv")
	if err != nil {
		fmt.Println(err)
		return
	}
	caps, ok := p.Match("customers_USMF_20261125.csv")
	fmt.Println(ok, caps["company"])
	_, ok = p.Match("orders_USMF_20261125.csv")
	fmt.Println(ok)
	// Output:
	// true USMF
	// false
}

func ExamplePattern_MatchTail() {
	p := pattern.MustParse("customers_{company}_*.csv")
	caps, ok := p.MatchTail("/some/dir/customers_DEMF_20261125.csv")
	fmt.Println(ok, caps["company"])
	// Output: true DEMF
}

func ExampleParse_error() {
	_, err := pattern.Parse("customers_{company}*.csv")
	fmt.Println(err)
	// Output: pattern "customers_{company}*.csv", column 20: * right after {company} is ambiguous: put a literal between them, e.g. {company}_*
}
