"""switcher"""
