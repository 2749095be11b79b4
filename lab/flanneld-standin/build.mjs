// Placeholder until the flanneld stand-in lands: builds nothing.
