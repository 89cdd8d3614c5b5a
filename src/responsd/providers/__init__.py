"""Model backends behind one interface (`base.Provider`), one module each."""
