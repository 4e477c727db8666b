package strangler

import memdb "github.com/hashicorp/go-memdb"

// The memdb tables. These names never leave the package.
const (
	tableRoutes = "routes" // *Route, indexed by Name
	tableEvents = "events" // *Event, indexed by Seq (big-endian, so ordered)
	indexID     = "id"
)

func newSchema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableRoutes: {
			Name: tableRoutes,
			Indexes: map[string]*memdb.IndexSchema{
				indexID: {Name: indexID, Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Name"}},
			},
		},
		tableEvents: {
			Name: tableEvents,
			Indexes: map[string]*memdb.IndexSchema{
				indexID: {Name: indexID, Unique: true, Indexer: &memdb.UintFieldIndex{Field: "Seq"}},
			},
		},
	}}
}
