//! The `dots` codec: one `.` per event, to watch throughput on a terminal. Encoding lives in
//! `Codec::encode`; this module exists so the codec has its own place in the layout.
