package embedded

const crashChildEnv = "GANTRY_EMBEDDED_CRASH_CHILD"

func crashChild() {}
