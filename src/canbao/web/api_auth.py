"""Placeholder: filled in by issue 14."""

from fastapi import APIRouter

router = APIRouter()
