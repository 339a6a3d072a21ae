package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/docs"
	"github.com/dmfpipe/dmfpipe/mapping"
	"github.com/dmfpipe/dmfpipe/validate"
)

func newEntitiesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "entities [NAME]",
		Short: "List the entities of the built-in catalog, or one entity's fields (offline)",
		Long: `entities prints dmfpipe's built-in entity catalog: the data entities a project can
import into, with the names a config uses. It needs no config and no F&O environment.

Without NAME it lists every entity: its label (the value target.entity takes), its AOT
and OData names, its number of fields and its key.

With NAME (a label, an AOT name or an OData name, in any case; the quotes around a label
are optional) it shows that entity: its fields as a mapping names them (the upper-case
staging names; the OData name is accepted too), each with its type, length, whether
every row needs it, its default and its values; the fields required under conditions;
and a mapping to start from, with every field the import needs.

The mapping language (from, const, default, map, transforms, expr, validation rules) is
described in docs/mapping.md, also printed by "pipeline help mapping". The entities of
a live environment are listed by "pipeline dmf entities".`,
		Example: `  pipeline entities
  pipeline entities "Customers V3"
  pipeline entities customers v3            # the same
  pipeline entities CustCustomerV3Entity    # by AOT name, or CustomersV3 by OData name
  pipeline entities "General journal" --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cat := catalog.Default()
			out := cmd.OutOrStdout()
			if len(args) == 0 {
				list := make([]entitySummary, 0)
				for _, e := range cat.Entities() {
					list = append(list, summarize(e))
				}
				if asJSON {
					return printJSON(out, list)
				}
				return printEntityList(out, list)
			}
			name := strings.Join(args, " ")
			ent, ok := cat.Lookup(name)
			if !ok {
				return usageError(fmt.Errorf("%q is not an entity of the catalog%s (pipeline entities lists them)",
					name, validate.DidYouMean(validate.SuggestEntities(cat, name))))
			}
			d := describe(cat, ent)
			if asJSON {
				return printJSON(out, d)
			}
			return printEntity(out, d)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of text")
	return cmd
}

// entitySummary is one entity of the list.
type entitySummary struct {
	// Label is the entity's DMF label: what target.entity and dmf import --entity take.
	Label            string   `json:"label"`
	AOTName          string   `json:"aot_name"`
	PublicEntity     string   `json:"public_entity,omitempty"`
	PublicCollection string   `json:"public_collection,omitempty"`
	Category         string   `json:"category"`
	CompanySpecific  bool     `json:"company_specific"`
	ReadOnly         bool     `json:"read_only"`
	KeyFields        []string `json:"key_fields"`
	FieldCount       int      `json:"field_count"`
}

// entityDetail is one entity in full.
type entityDetail struct {
	entitySummary
	OnlyXML bool `json:"only_xml,omitempty"`
	// RequiredInMapping are the fields a mapping must have (mapping.Required); empty for
	// a read-only entity.
	RequiredInMapping []string             `json:"required_in_mapping"`
	Fields            []*catalog.Field     `json:"fields"`
	Rules             []catalog.Rule       `json:"rules,omitempty"`
	Balance           *catalog.BalanceRule `json:"balance,omitempty"`
	// ReferenceLists are the values of the lists the fields' refs name.
	ReferenceLists map[string][]string `json:"reference_lists,omitempty"`
}

func summarize(e *catalog.Entity) entitySummary {
	return entitySummary{
		Label: e.DMFName, AOTName: e.AOTName, PublicEntity: e.PublicEntity, PublicCollection: e.PublicCollection,
		Category: e.Category, CompanySpecific: e.CompanySpecific, ReadOnly: e.ReadOnly,
		KeyFields: e.KeyFields, FieldCount: len(e.Fields),
	}
}

func describe(cat *catalog.Catalog, e *catalog.Entity) entityDetail {
	d := entityDetail{entitySummary: summarize(e), OnlyXML: e.OnlyXML, Fields: e.Fields, Rules: e.Rules,
		Balance: e.Balance, RequiredInMapping: []string{}}
	if !e.ReadOnly {
		d.RequiredInMapping = mapping.Required(e)
	}
	for _, f := range e.Fields {
		if f.Ref == nil || f.Ref.List == "" {
			continue
		}
		if values, ok := cat.ReferenceList(f.Ref.List); ok {
			if d.ReferenceLists == nil {
				d.ReferenceLists = map[string][]string{}
			}
			d.ReferenceLists[f.Ref.List] = values
		}
	}
	return d
}

func printEntityList(out io.Writer, list []entitySummary) error {
	rows := [][]string{{"LABEL (target.entity)", "AOT NAME", "ODATA ENTITY", "ODATA COLLECTION", "FIELDS", "READ-ONLY", "KEY"}}
	for _, e := range list {
		rows = append(rows, []string{e.Label, e.AOTName, orDash(e.PublicEntity), orDash(e.PublicCollection),
			strconv.Itoa(e.FieldCount), yesNo(e.ReadOnly), strings.Join(e.KeyFields, ", ")})
	}
	if err := writeTable(out, "", rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "%d entities; `pipeline entities NAME` shows one's fields\n", len(list))
	return err
}

func printEntity(out io.Writer, d entityDetail) error {
	fmt.Fprintln(out, d.Label)
	odata := "none (not exposed as an OData entity)"
	if d.PublicEntity != "" {
		odata = fmt.Sprintf("%s (collection %s)", d.PublicEntity, d.PublicCollection)
	}
	scope := "shared by every legal entity"
	if d.CompanySpecific {
		scope = "one set of rows per legal entity"
	}
	about := [][]string{
		{"target.entity:", d.Label},
		{"AOT name:", d.AOTName},
		{"OData:", odata},
		{"Category:", d.Category + ", " + scope},
		{"Key:", strings.Join(d.KeyFields, ", ")},
	}
	if d.ReadOnly {
		about = append(about, []string{"Read-only:", "yes: it can be exported, not imported"})
	}
	if d.OnlyXML {
		about = append(about, []string{"Packages:", "XML only (a composite entity)"})
	}
	if err := writeTable(out, "  ", about); err != nil {
		return err
	}

	fmt.Fprintln(out)
	rows := [][]string{{"FIELD", "ODATA NAME", "TYPE", "LENGTH", "MANDATORY", "DEFAULT", "VALUES"}}
	for _, f := range d.Fields {
		length := ""
		if f.MaxLen > 0 {
			length = strconv.Itoa(f.MaxLen)
		}
		mandatory := ""
		switch {
		case f.AutoGenerate:
			mandatory = "auto"
		case f.Mandatory:
			mandatory = "yes"
		}
		rows = append(rows, []string{f.StagingName, f.ODataName, string(f.Type), length, mandatory, f.Default, fieldValues(f, d.ReferenceLists)})
	}
	if err := writeTable(out, "", rows); err != nil {
		return err
	}
	fmt.Fprintln(out, "MANDATORY: yes = every row needs a value (unless DEFAULT fills it); auto = F&O takes an")
	fmt.Fprintln(out, "empty value from a number sequence.")

	if len(d.Rules) > 0 {
		fmt.Fprintln(out, "\nAlso required:")
		for _, r := range d.Rules {
			fmt.Fprintf(out, "  %s when %s\n", ruleNeeds(r), ruleCondition(r))
		}
	}
	if b := d.Balance; b != nil {
		fmt.Fprintf(out, "\nBalance (rows with the same %s):\n", strings.Join(b.GroupBy, " and "))
		fmt.Fprintf(out, "  the sum of %s equals the sum of %s\n", b.Debit, b.Credit)
		if b.SelfBalancedBy != "" {
			fmt.Fprintf(out, "  a row with %s set balances itself\n", b.SelfBalancedBy)
		}
	}
	if d.ReadOnly {
		return nil
	}
	fmt.Fprintln(out, "\nA mapping to start from (each from names a column of your file; docs/mapping.md has every key):")
	return printStarter(out, d)
}

// writeTable writes rows as aligned columns, each line after indent, without the
// padding an empty last cell would leave.
func writeTable(out io.Writer, indent string, rows [][]string) error {
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(w, indent+strings.Join(r, "\t"))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(b.String()) {
		if _, err := fmt.Fprintln(out, strings.TrimRight(line, " \n")); err != nil {
			return err
		}
	}
	return nil
}

// printStarter prints a project's target and a mapping of every field it needs, each
// from the column named after the field's OData name.
func printStarter(out io.Writer, d entityDetail) error {
	group := "DMFPIPE-" + strings.ToUpper(strings.Join(strings.Fields(d.Label), "-"))
	legal := ""
	if d.CompanySpecific {
		legal = ", legal_entity: USMF"
	}
	fmt.Fprintf(out, "  target: { entity: %s%s, definition_group: %s }\n", d.Label, legal, group)
	fmt.Fprintln(out, "  mapping:")
	width := 0
	for _, name := range d.RequiredInMapping {
		width = max(width, len(name))
	}
	for _, name := range d.RequiredInMapping {
		column := name
		for _, f := range d.Fields {
			if f.StagingName == name && f.ODataName != "" {
				column = f.ODataName
			}
		}
		if _, err := fmt.Fprintf(out, "    %-*s { from: %s }\n", width+1, name+":", column); err != nil {
			return err
		}
	}
	return nil
}

// fieldValues describes the values a field takes: its enum values, or the reference its
// values must exist in.
func fieldValues(f *catalog.Field, lists map[string][]string) string {
	switch {
	case len(f.EnumValues) > 0:
		return strings.Join(f.EnumValues, ", ")
	case f.Ref != nil && f.Ref.List != "":
		return fmt.Sprintf("one of %s (%s)", f.Ref.Label, strings.Join(lists[f.Ref.List], ", "))
	case f.Ref != nil:
		return fmt.Sprintf("a key of %s (%s)", f.Ref.Entity, f.Ref.Label)
	}
	return ""
}

func ruleNeeds(r catalog.Rule) string {
	var parts []string
	if len(r.RequireAll) > 0 {
		parts = append(parts, strings.Join(r.RequireAll, ", "))
	}
	if len(r.RequireAny) > 0 {
		parts = append(parts, "one of "+strings.Join(r.RequireAny, ", "))
	}
	return strings.Join(parts, " and ")
}

func ruleCondition(r catalog.Rule) string {
	if r.WhenEquals != "" {
		return r.WhenField + " is " + r.WhenEquals
	}
	return r.WhenField + " is not empty"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// newMappingHelpCmd is the help topic `pipeline help mapping`: docs/mapping.md.
func newMappingHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "mapping",
		Short: "The mapping language: field mappings, transforms and validation rules",
		Long:  strings.TrimSpace(docs.Mapping),
	}
}
