//! Record accessor: paths such as `$key` and `$a['b'][0]` into a record.
