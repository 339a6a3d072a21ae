package reader_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dmfpipe/dmfpipe/ingest/reader"
)

// A reading loop: row errors are recorded and reading goes on; any other
// error ends it.
func ExampleOpen() {
	in := "Account;Name\r\nC001;Café\r\nC002\r\nC003;\"Smith; John\"\r\n"
	rd, err := reader.Open(strings.NewReader(in), reader.Options{FileName: "customers.csv"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rd.Close()
	info := rd.Info()
	fmt.Printf("%s, %s, delimiter %q, header %q\n", info.Format, info.Encoding, info.Delimiter, rd.Header())
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		var rowErr *reader.RowError
		if errors.As(err, &rowErr) {
			fmt.Println("row error:", rowErr)
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(rec.Loc, rec.Values)
	}
	// Output:
	// csv, utf-8, delimiter ';', header ["Account" "Name"]
	// line 2 [C001 Café]
	// row error: customers.csv: line 3: 1 field, the header has 2
	// line 4 [C003 Smith; John]
}
