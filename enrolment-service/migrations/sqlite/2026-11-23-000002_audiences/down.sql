DROP TABLE audience_members;
DROP TABLE audiences;
