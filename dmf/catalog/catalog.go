package catalog

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

//go:embed entities.json
var entitiesJSON []byte

// FieldType is the value type of an entity field.
type FieldType string

// Field types. Values are written as text in DMF data files; the type says how to parse it.
const (
	TypeString   FieldType = "string"
	TypeDecimal  FieldType = "decimal"  // '.' as decimal point, no thousands separators
	TypeInt      FieldType = "int"      // whole number
	TypeDate     FieldType = "date"     // calendar date
	TypeDateTime FieldType = "datetime" // UTC date and time
	TypeEnum     FieldType = "enum"     // one of EnumValues, by value name
)

// Field is one column of an entity, named as DMF staging tables name it.
type Field struct {
	// StagingName is the upper-case DMF staging name, e.g. CUSTOMERACCOUNT.
	StagingName string `json:"staging_name"`
	// ODataName is the PascalCase OData property, e.g. CustomerAccount.
	ODataName string `json:"odata_name"`
	// Type is the value type.
	Type FieldType `json:"type"`
	// MaxLen is the longest string value accepted; 0 means no limit (or not a string).
	MaxLen int `json:"max_len,omitempty"`
	// EnumValues are the value names of an enum field, in enum order.
	EnumValues []string `json:"enum_values,omitempty"`
	// Mandatory fields must be non-empty on every imported row.
	Mandatory bool `json:"mandatory,omitempty"`
	// AutoGenerate fields take their value from a number sequence: a supplied value is a
	// placeholder that the import replaces (the same placeholder gets the same number
	// within one execution), an empty one gets a fresh number.
	AutoGenerate bool `json:"auto_generate,omitempty"`
	// Default is the value used on insert when the field is empty or not mapped.
	Default string `json:"default,omitempty"`
	// Ref is a foreign key: the value must exist in a reference list or another entity.
	Ref *Ref `json:"ref,omitempty"`
}

// Ref names what a field's value must exist in: a reference list of the catalog, or the
// single-field key of another entity in the same legal entity.
type Ref struct {
	// List is the name of a reference list (see Catalog.ReferenceList).
	List string `json:"list,omitempty"`
	// Entity is the DMF label of the referenced entity; its key is compared.
	Entity string `json:"entity,omitempty"`
	// Label names the referenced table in error messages, e.g. "Customer groups".
	Label string `json:"label"`
}

// Rule is a conditional requirement: when the condition holds after defaults are applied,
// every field in RequireAll and at least one in RequireAny must be non-empty.
type Rule struct {
	// WhenField is the field the condition looks at.
	WhenField string `json:"when_field"`
	// WhenEquals, when set, makes the rule apply if WhenField equals it (case-insensitive).
	WhenEquals string `json:"when_equals,omitempty"`
	// WhenNotEmpty makes the rule apply if WhenField is non-empty.
	WhenNotEmpty bool `json:"when_not_empty,omitempty"`
	// RequireAll fields must all be non-empty.
	RequireAll []string `json:"require_all,omitempty"`
	// RequireAny needs at least one non-empty field.
	RequireAny []string `json:"require_any,omitempty"`
}

// BalanceRule says that rows grouped by GroupBy must balance: the sum of Debit equals the
// sum of Credit. Rows with SelfBalancedBy non-empty (an offset account) balance themselves.
type BalanceRule struct {
	GroupBy        []string `json:"group_by"`
	Debit          string   `json:"debit"`
	Credit         string   `json:"credit"`
	SelfBalancedBy string   `json:"self_balanced_by,omitempty"`
}

// Entity describes one DMF data entity (dmf-api.md §7.8).
type Entity struct {
	// DMFName is the label DMF shows and the manifest, recurring API and error-file
	// actions use, e.g. "Customers V3".
	DMFName string `json:"dmf_name"`
	// AOTName is the entity's AOT name, e.g. CustCustomerV3Entity.
	AOTName string `json:"aot_name"`
	// PublicEntity and PublicCollection are the OData names; empty when the entity has
	// no OData exposure (General journal).
	PublicEntity     string `json:"public_entity,omitempty"`
	PublicCollection string `json:"public_collection,omitempty"`
	// Category is the DMF entity category: Master, Document, Transaction, Reference.
	Category string `json:"category"`
	// CompanySpecific entities are keyed per legal entity (dataAreaId).
	CompanySpecific bool `json:"company_specific"`
	// KeyFields are the staging names of the entity key (without dataAreaId).
	KeyFields []string `json:"key_fields"`
	// Fields lists every known field, in the order DMF lists them.
	Fields []*Field `json:"fields"`
	// Rules are conditional mandatory-field rules.
	Rules []Rule `json:"rules,omitempty"`
	// Balance, when set, requires grouped rows to balance (journals).
	Balance *BalanceRule `json:"balance,omitempty"`
	// ReadOnly entities can be exported but not imported.
	ReadOnly bool `json:"read_only,omitempty"`
	// SupportsMultiThread is whether DMF can split an import into parallel tasks.
	SupportsMultiThread bool `json:"supports_multi_thread,omitempty"`
	// SupportsSetBased is whether set-based processing is supported.
	SupportsSetBased bool `json:"supports_set_based,omitempty"`
	// OnlyXML marks composite entities, which only XML packages can carry.
	OnlyXML bool `json:"only_xml,omitempty"`

	fieldIndex map[string]int
}

// Field finds a field by staging or OData name, case-insensitively.
func (e *Entity) Field(name string) (*Field, bool) {
	i, ok := e.fieldIndex[strings.ToUpper(name)]
	if !ok {
		return nil, false
	}
	return e.Fields[i], true
}

// FieldIndex is the position of a field in Fields, by staging or OData name
// (case-insensitive), or -1.
func (e *Entity) FieldIndex(name string) int {
	i, ok := e.fieldIndex[strings.ToUpper(name)]
	if !ok {
		return -1
	}
	return i
}

// Catalog is a set of entities and reference lists.
type Catalog struct {
	entities []*Entity
	names    map[string]*Entity
	lists    map[string][]string
}

type catalogFile struct {
	Entities       []*Entity           `json:"entities"`
	ReferenceLists map[string][]string `json:"reference_lists"`
}

var defaultCatalog = sync.OnceValue(func() *Catalog {
	c, err := Parse(entitiesJSON)
	if err != nil {
		panic(fmt.Sprintf("catalog: embedded entities.json: %v", err))
	}
	return c
})

// Default is the embedded catalog. It is shared; treat it as read-only.
func Default() *Catalog { return defaultCatalog() }

// Parse reads a catalog in the entities.json format and checks that it is consistent.
func Parse(data []byte) (*Catalog, error) {
	var f catalogFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("decoding catalog: %w", err)
	}
	c := &Catalog{entities: f.Entities, names: map[string]*Entity{}, lists: map[string][]string{}}
	for name, values := range f.ReferenceLists {
		c.lists[strings.ToUpper(name)] = values
	}
	for _, e := range f.Entities {
		if err := c.index(e); err != nil {
			return nil, fmt.Errorf("entity %q: %w", e.DMFName, err)
		}
	}
	for _, e := range f.Entities {
		if err := c.checkRefs(e); err != nil {
			return nil, fmt.Errorf("entity %q: %w", e.DMFName, err)
		}
	}
	return c, nil
}

func (c *Catalog) index(e *Entity) error {
	if e.DMFName == "" || e.AOTName == "" {
		return errors.New("dmf_name and aot_name are required")
	}
	e.fieldIndex = make(map[string]int, 2*len(e.Fields))
	for i, f := range e.Fields {
		if f.StagingName == "" || f.StagingName != strings.ToUpper(f.StagingName) {
			return fmt.Errorf("field %d: staging name %q must be non-empty upper case", i, f.StagingName)
		}
		switch f.Type {
		case TypeString, TypeDecimal, TypeInt, TypeDate, TypeDateTime:
		case TypeEnum:
			if len(f.EnumValues) == 0 {
				return fmt.Errorf("field %s: enum without values", f.StagingName)
			}
		default:
			return fmt.Errorf("field %s: unknown type %q", f.StagingName, f.Type)
		}
		if f.Default != "" && f.Type == TypeEnum && !slices.Contains(f.EnumValues, f.Default) {
			return fmt.Errorf("field %s: default %q is not an enum value", f.StagingName, f.Default)
		}
		for _, n := range []string{f.StagingName, f.ODataName} {
			if n == "" {
				continue
			}
			if j, dup := e.fieldIndex[strings.ToUpper(n)]; dup && j != i {
				return fmt.Errorf("field name %q used twice", n)
			}
			e.fieldIndex[strings.ToUpper(n)] = i
		}
	}
	if len(e.KeyFields) == 0 {
		return errors.New("no key fields")
	}
	names := slices.Clone(e.KeyFields)
	for _, r := range e.Rules {
		names = append(append(append(names, r.WhenField), r.RequireAll...), r.RequireAny...)
	}
	if b := e.Balance; b != nil {
		names = append(append(names, b.GroupBy...), b.Debit, b.Credit)
		if b.SelfBalancedBy != "" {
			names = append(names, b.SelfBalancedBy)
		}
	}
	for _, n := range names {
		if _, ok := e.Field(n); !ok {
			return fmt.Errorf("unknown field %q", n)
		}
	}
	for _, n := range []string{e.DMFName, e.AOTName, e.PublicEntity, e.PublicCollection} {
		if n == "" {
			continue
		}
		if other, dup := c.names[strings.ToUpper(n)]; dup && other != e {
			return fmt.Errorf("name %q already used by %q", n, other.DMFName)
		}
		c.names[strings.ToUpper(n)] = e
	}
	return nil
}

func (c *Catalog) checkRefs(e *Entity) error {
	for _, f := range e.Fields {
		if f.Ref == nil {
			continue
		}
		switch {
		case f.Ref.List != "":
			if _, ok := c.lists[strings.ToUpper(f.Ref.List)]; !ok {
				return fmt.Errorf("field %s: unknown reference list %q", f.StagingName, f.Ref.List)
			}
		case f.Ref.Entity != "":
			target, ok := c.Lookup(f.Ref.Entity)
			if !ok {
				return fmt.Errorf("field %s: unknown referenced entity %q", f.StagingName, f.Ref.Entity)
			}
			if len(target.KeyFields) != 1 {
				return fmt.Errorf("field %s: referenced entity %q has a composite key", f.StagingName, f.Ref.Entity)
			}
		default:
			return fmt.Errorf("field %s: ref needs a list or an entity", f.StagingName)
		}
	}
	return nil
}

// Lookup finds an entity by DMF label, AOT name, public entity or public collection name,
// case-insensitively.
func (c *Catalog) Lookup(name string) (*Entity, bool) {
	e, ok := c.names[strings.ToUpper(strings.TrimSpace(name))]
	return e, ok
}

// Entities lists every entity in catalog order.
func (c *Catalog) Entities() []*Entity { return slices.Clone(c.entities) }

// ReferenceList returns a named reference list (e.g. "CustomerGroups"), case-insensitively.
func (c *Catalog) ReferenceList(name string) ([]string, bool) {
	l, ok := c.lists[strings.ToUpper(name)]
	return slices.Clone(l), ok
}
