package mapping

import (
	"fmt"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// CompileColumns compiles an export's columns (config ExportEntity.Columns): each output
// column is made with the mapping language from the fields of an entity's exported data
// file, named as its header names them (F&O's staging names). Output columns are free
// names, written as text: const, default and map values are not checked against a field
// type. Problems are config.Problems located at the config line at fault, naming the
// project and the entity.
func CompileColumns(project, entity string, cols config.Columns) (*Mapping, error) {
	var probs config.Problems
	m := &Mapping{}
	for _, fm := range cols {
		f, fieldProbs := compileField(fm, &catalog.Field{StagingName: fm.Field, Type: catalog.TypeString})
		for _, pr := range fieldProbs {
			probs = append(probs, config.Problem{Position: pr.Position,
				Msg: fmt.Sprintf("project %s: entities.%s.columns.%s: %s", project, entity, fm.Field, pr.Msg)})
		}
		if fm.From == "" && fm.Const == nil && fm.Expr == "" && fm.Default == nil {
			probs = append(probs, config.Problem{Position: fm.Pos,
				Msg: fmt.Sprintf("project %s: entities.%s.columns.%s: needs from (a field of the entity), const, expr or default", project, entity, fm.Field)})
		}
		m.fields = append(m.fields, f)
		m.names = append(m.names, f.name)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return m, nil
}
