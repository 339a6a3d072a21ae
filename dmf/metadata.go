package dmf

import (
	"context"
	"net/url"
)

// DataEntity is an entry of the /metadata/DataEntities service (§2.8).
type DataEntity struct {
	// Name is the entity's AOT name, e.g. CustCustomerV3Entity.
	Name                  string `json:"Name"`
	PublicEntityName      string `json:"PublicEntityName"`
	PublicCollectionName  string `json:"PublicCollectionName"`
	LabelID               string `json:"LabelId"`
	EntityCategory        string `json:"EntityCategory"`
	DataServiceEnabled    bool   `json:"DataServiceEnabled"`
	DataManagementEnabled bool   `json:"DataManagementEnabled"`
	IsReadOnly            bool   `json:"IsReadOnly"`
}

// DataEntities lists the environment's data entities, following server paging.
// filter is an optional OData $filter expression.
func (c *Client) DataEntities(ctx context.Context, filter string) ([]DataEntity, error) {
	next := c.opts.BaseURL + "/metadata/DataEntities"
	if filter != "" {
		next += "?" + url.Values{"$filter": {filter}}.Encode()
	}
	var out []DataEntity
	for next != "" {
		var page struct {
			Value    []DataEntity `json:"value"`
			NextLink string       `json:"@odata.nextLink"`
		}
		if err := c.getJSON(ctx, "metadata DataEntities", next, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Value...)
		next = page.NextLink
	}
	return out, nil
}
