int ct_placeholder(void);
