"""The baseline of a page run: Streamlit running a script that draws one line."""

import streamlit as st

st.write("x")
