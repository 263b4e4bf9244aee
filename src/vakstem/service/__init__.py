"""The domain services the web layer, CLI and simulator call: one place for each rule."""
