int ct_placeholder(void) { return 0; }
