"""Reading messages: safe XML parsing, and any xdomea version into the typed model (and out as JSON/text)."""
